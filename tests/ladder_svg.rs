//! The SVG ladder renders in a real SVG renderer (librsvg) to a picture that is not blank.
//! Needs `rsvg-convert` (Debian: librsvg2-bin), so it is ignored by a plain `cargo test`:
//! `apt-get install -y librsvg2-bin && cargo test --test ladder_svg -- --ignored`.

mod common;

use common::*;
use std::collections::HashSet;
use std::process::Command;

#[test]
#[ignore = "needs rsvg-convert; run by .ci/run"]
fn svg_renders_to_a_colorful_png() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("ladder.svg");
    let png = dir.path().join("ladder.png");
    let file = capture("16-fw-masked-banner.pcap");
    let out = run(&["ladder", file.to_str().unwrap(), "--format", "svg", "-o", svg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status = Command::new("rsvg-convert")
        .arg(&svg)
        .arg("-o")
        .arg(&png)
        .status()
        .expect("rsvg-convert (apt-get install librsvg2-bin)");
    assert!(status.success(), "rsvg-convert rejected the SVG");

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert!(info.width > 800 && info.height > 400, "{}x{}", info.width, info.height);
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let colors: HashSet<&[u8]> = pixels.iter().copied().collect();
    // White background, black text, and the hues of both directions, masking and verdicts.
    assert!(colors.len() > 8, "only {} distinct colors", colors.len());
    let inked = pixels.iter().filter(|p| p[..3] != [255, 255, 255]).count();
    assert!(inked * 100 > pixels.len(), "almost blank: {inked} of {} pixels drawn", pixels.len());
}
