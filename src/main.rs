//! The `smtpdiag` binary: parses arguments, wires the library's stages, prints. Thin on purpose.

mod app;
/// The library's test helpers, from the same file (see its header).
#[cfg(test)]
#[allow(dead_code)]
#[path = "synth.rs"]
mod synth;

use clap::Parser;
use smtpdiag::cli::Cli;

/// mimalloc instead of glibc malloc: sessions open and close by the thousand, and on that
/// fragmented heap glibc's slow path (sorting its unsorted bin) took a tenth of the run.
/// Version 2 (Cargo.toml says why). Metered: the flow table charges each connection the heap
/// bytes handling it allocated (`--memcap`).
#[global_allocator]
static ALLOCATOR: smtpdiag::heap::Metered<smtpdiag::heap::Mimalloc> = smtpdiag::heap::Metered(smtpdiag::heap::Mimalloc);

/// mimalloc's `mi_option_purge_delay` (its index in `mi_option_t`, which the crate does not
/// export: mimalloc 2.3, pinned by Cargo.lock).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
// It sits between two options the crate does export; a version that renumbers them fails here.
const _: () = assert!(
    libmimalloc_sys::mi_option_eager_commit_delay + 1 == MI_OPTION_PURGE_DELAY
        && MI_OPTION_PURGE_DELAY + 1 == libmimalloc_sys::mi_option_use_numa_nodes
);

/// Memory freed stays a second before it goes back to the system (mimalloc 2 waits 10 ms): freed
/// connection state is reused at once instead of being given back and faulted in again, zeroed
/// by the kernel (1 GB file: 150 page faults instead of 1,060; about as fast, as the heap sits
/// on transparent huge pages).
fn tune_allocator() {
    // SAFETY: sets one integer option; valid at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
}

fn main() {
    tune_allocator();
    let cli = Cli::parse();
    let code = match app::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Errors name files and quote captures: nothing in them may drive the terminal.
            eprintln!("smtpdiag: {}", smtpdiag::render::sanitize::sanitize_lines(&format!("{e:#}")));
            2
        }
    };
    std::process::exit(code);
}
