//! The shape of src/, checked: imports between top-level modules only go downward through the
//! stages (LAYERS), no two files import each other even through others (a circle), and no file
//! ends over 700 lines.
//!
//! Imports are the paths the code names with `crate::`, `super::` or `smtpdiag::` (in `use`
//! declarations, re-exports and inline paths), read after comments and string contents are
//! dropped. Test code is left out: a test module may build a whole session to test a low stage
//! (`#[cfg(test)]` items, and files declared as `#[cfg(test)] mod NAME;` with everything under
//! them, such as the synthetic sessions in src/synth.rs). `mod` declarations themselves and
//! relative `use child::…` paths from a parent to its children are not imports here: they are
//! how a module is made of its files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules from the bottom of the stack to the top: a module may import only
/// those before it. `heap` (the metered allocator's count) is below everything; `textfmt` holds
/// small text helpers shared by `diff` and `render`; `app` and `main` are the binary.
const LAYERS: &[&str] = &[
    "heap", "capture", "textfmt", "decode", "defrag", "tcp", "smtp", "session", "diagnose", "maillog", "diff",
    "render", "select", "cli", "app", "main",
];

const MAX_LINES: usize = 700;

/// One source file: its module path (empty for the crate roots lib.rs and main.rs).
struct SourceFile {
    path: PathBuf,
    module: Vec<String>,
    text: String,
}

impl SourceFile {
    /// The name the reports use: the module path, or "lib"/"main" for the crate roots.
    fn name(&self) -> String {
        if self.module.is_empty() {
            self.path.file_stem().unwrap().to_string_lossy().into_owned()
        } else {
            self.module.join("::")
        }
    }

    /// The top-level module it belongs to ("main" for main.rs).
    fn top(&self) -> String {
        self.module.first().cloned().unwrap_or_else(|| self.name())
    }
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn source_files() -> Vec<SourceFile> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&src_dir(), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(src_dir()).unwrap().with_extension("");
            let mut module: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
            if module.last().is_some_and(|m| m == "mod") || module == ["lib"] || module == ["main"] {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            SourceFile { path, module, text }
        })
        .collect()
}

/// The code of a file as tokens: comments dropped, string and character literals each one
/// `"` token, so that neither a doc comment nor a message naming `crate::x` counts as an import.
fn tokens(text: &str) -> Vec<String> {
    let c: Vec<char> = text.chars().collect();
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push("\"".to_string());
        } else if ch == '\'' {
            // A character literal ('x', '\n', '{'), or a lifetime ('a), which is skipped.
            if next == Some('\\') {
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push("\"".to_string());
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push("\"".to_string());
            } else {
                i += 1;
            }
        } else if ident(ch) {
            let start = i;
            while i < c.len() && ident(c[i]) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // Raw (byte) strings: r"…", r#"…"#, br"…".
            let hashes = c[i..].iter().take_while(|&&h| h == '#').count();
            if (word == "r" || word == "br") && c.get(i + hashes) == Some(&'"') {
                let close: String = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
                let body: String = c[i + hashes + 1..].iter().collect();
                let len = body.find(&close).map_or(body.len(), |at| body[..at].chars().count());
                i += hashes + 1 + len + close.chars().count();
                out.push("\"".to_string());
            } else {
                out.push(word);
            }
        } else if ch == ':' && next == Some(':') {
            out.push("::".to_string());
            i += 2;
        } else if ch.is_whitespace() {
            i += 1;
        } else {
            out.push(ch.to_string());
            i += 1;
        }
    }
    out
}

/// What one file imports and which of its child files are test-only.
#[derive(Default)]
struct Scan {
    /// Paths named from this file, resolved from the crate root (`super` and `smtpdiag` undone).
    imports: Vec<Vec<String>>,
    /// Children declared `#[cfg(test)] mod NAME;`.
    test_children: Vec<String>,
}

/// Reads a file's tokens: attributes, test items (skipped), inline modules (for `super`) and
/// every `crate::`/`super::`/`smtpdiag::` path, with `use` trees expanded.
fn scan(file: &SourceFile) -> Scan {
    let t = tokens(&file.text);
    let mut scan = Scan::default();
    // The module the code is in: the file's, plus the inline `mod x { … }` around it, each with
    // the brace depth at which it closes.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut test_item = false;
    let mut i = 0;
    while i < t.len() {
        match t[i].as_str() {
            "#" => {
                // An attribute: #[…] or #![…].
                let mut j = i + 1;
                if t.get(j).is_some_and(|s| s == "!") {
                    j += 1;
                }
                if t.get(j).is_none_or(|s| s != "[") {
                    i += 1; // `r#ident` and the like
                    continue;
                }
                let end = matching(&t, j, "[", "]");
                let attr = &t[j + 1..end];
                if attr.first().is_some_and(|s| s == "cfg")
                    && attr.iter().any(|s| s == "test")
                    && !attr.iter().any(|s| s == "not")
                {
                    test_item = t[i + 1] != "!";
                }
                i = end + 1;
                continue;
            }
            _ if test_item => {
                test_item = false;
                // `pub`, `pub(crate)` … `mod NAME;` declares a test-only file; anything else
                // (an inline module, a fn, a use) is skipped to its end.
                let mut j = i;
                while t.get(j).is_some_and(|s| ["pub", "(", "crate", "super", ")"].contains(&s.as_str())) {
                    j += 1;
                }
                if t.get(j).is_some_and(|s| s == "mod") && t.get(j + 2).is_some_and(|s| s == ";") {
                    scan.test_children.push(t[j + 1].clone());
                    i = j + 3;
                } else {
                    i = item_end(&t, i);
                }
                continue;
            }
            "mod" if t.get(i + 2).is_some_and(|s| s == "{") => {
                depth += 1;
                inline.push((t[i + 1].clone(), depth));
                i += 3;
                continue;
            }
            "{" => depth += 1,
            "}" => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth -= 1;
            }
            "crate" | "super" | "smtpdiag" if t.get(i + 1).is_some_and(|s| s == "::") => {
                let preceded_by_path = i > 0 && t[i - 1] == "::";
                let (paths, end) = use_tree(&t, i);
                if !preceded_by_path {
                    let here: Vec<String> =
                        file.module.iter().cloned().chain(inline.iter().map(|(m, _)| m.clone())).collect();
                    scan.imports.extend(paths.into_iter().filter_map(|p| absolute(&here, &p)));
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    scan
}

/// The index of the token closing the group opened at `open_at`.
fn matching(t: &[String], open_at: usize, open: &str, close: &str) -> usize {
    let mut level = 0;
    for (k, s) in t.iter().enumerate().skip(open_at) {
        if s == open {
            level += 1;
        } else if s == close {
            level -= 1;
            if level == 0 {
                return k;
            }
        }
    }
    t.len() - 1
}

/// The index after an item starting at `i`: its `;`, or the `}` closing its first block.
fn item_end(t: &[String], i: usize) -> usize {
    for k in i..t.len() {
        match t[k].as_str() {
            ";" => return k + 1,
            "{" => return matching(t, k, "{", "}") + 1,
            _ => {}
        }
    }
    t.len()
}

/// The paths of a `use` tree or inline path starting at `i` (`a::b::{c, d::{e, f}}`), each
/// with its segments, and the index after it.
fn use_tree(t: &[String], i: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = vec![t[i].clone()];
    let mut k = i + 1;
    while t.get(k).is_some_and(|s| s == "::") {
        match t.get(k + 1).map(String::as_str) {
            Some("{") => {
                let end = matching(t, k + 1, "{", "}");
                let mut paths = Vec::new();
                let mut item = k + 2;
                while item < end {
                    if t[item] == "," {
                        item += 1;
                        continue;
                    }
                    let (inner, after) = use_tree(t, item);
                    for p in inner {
                        let p: Vec<String> =
                            if p == ["self"] { prefix.clone() } else { prefix.iter().cloned().chain(p).collect() };
                        paths.push(p);
                    }
                    // Skip `as NAME` and anything else up to the next item.
                    item = after;
                    while item < end && t[item] != "," {
                        item += 1;
                    }
                }
                return (paths, end + 1);
            }
            Some(seg) if seg.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                prefix.push(seg.to_string());
                k += 2;
            }
            _ => break, // `*`, `<` of generics: the path so far.
        }
    }
    (vec![prefix], k)
}

/// A path from the crate root, undoing `crate`, `smtpdiag` and each `super` from `here`.
fn absolute(here: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut rest = path;
    let mut base: Vec<String> = match rest.first()?.as_str() {
        "crate" | "smtpdiag" => {
            rest = &rest[1..];
            Vec::new()
        }
        _ => here.to_vec(),
    };
    while rest.first().is_some_and(|s| s == "super") {
        base.pop()?;
        rest = &rest[1..];
    }
    Some(base.into_iter().chain(rest.iter().cloned()).collect())
}

/// The graph of src/: for each file (by name) the files it imports, test code left out.
struct Graph {
    files: Vec<SourceFile>,
    /// Indexes into `files`.
    edges: BTreeMap<usize, BTreeSet<usize>>,
    test_only: BTreeSet<usize>,
}

fn graph() -> Graph {
    let files = source_files();
    let scans: Vec<Scan> = files.iter().map(scan).collect();
    let by_module: BTreeMap<Vec<String>, usize> =
        files.iter().enumerate().filter(|(_, f)| !f.module.is_empty()).map(|(i, f)| (f.module.clone(), i)).collect();
    // Test-only modules: declared under cfg(test), and everything under them.
    let mut test_roots: Vec<Vec<String>> = Vec::new();
    for (f, s) in files.iter().zip(&scans) {
        for child in &s.test_children {
            test_roots.push(f.module.iter().cloned().chain([child.clone()]).collect());
        }
    }
    let test_only: BTreeSet<usize> = (0..files.len())
        .filter(|&i| !files[i].module.is_empty() && test_roots.iter().any(|r| files[i].module.starts_with(r)))
        .collect();
    let resolve = |path: &[String]| (1..=path.len()).rev().find_map(|n| by_module.get(&path[..n]).copied());
    let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (i, s) in scans.iter().enumerate() {
        if test_only.contains(&i) {
            continue;
        }
        for path in &s.imports {
            if let Some(j) = resolve(path)
                && j != i
                && !test_only.contains(&j)
            {
                edges.entry(i).or_default().insert(j);
            }
        }
    }
    Graph { files, edges, test_only }
}

/// Strongly connected components with more than one file (Tarjan).
fn circles(g: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        g: &'a Graph,
        index: BTreeMap<usize, usize>,
        low: BTreeMap<usize, usize>,
        stack: Vec<usize>,
        on_stack: BTreeSet<usize>,
        found: Vec<Vec<String>>,
    }
    fn visit(s: &mut State, v: usize) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for &w in s.g.edges.get(&v).into_iter().flatten() {
            if !s.index.contains_key(&w) {
                visit(s, w);
                let low = s.low[&v].min(s.low[&w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(&w) {
                let low = s.low[&v].min(s.index[&w]);
                s.low.insert(v, low);
            }
        }
        if s.low[&v] == s.index[&v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(&w);
                component.push(s.g.files[w].name());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in 0..g.files.len() {
        if !s.index.contains_key(&v) {
            visit(&mut s, v);
        }
    }
    s.found.sort();
    s.found
}

#[test]
fn no_file_imports_itself_through_others() {
    let found = circles(&graph());
    assert!(found.is_empty(), "import circles between files (each line one circle):\n{}", {
        found.iter().map(|c| c.join(" <-> ")).collect::<Vec<_>>().join("\n")
    });
}

#[test]
fn top_level_modules_import_only_the_stages_below_them() {
    let g = graph();
    let layer = |top: &str| LAYERS.iter().position(|l| *l == top);
    let mut wrong = Vec::new();
    for (i, f) in g.files.iter().enumerate() {
        if f.module.is_empty() && f.name() == "lib" || g.test_only.contains(&i) {
            continue;
        }
        let Some(from) = layer(&f.top()) else {
            wrong.push(format!("{}: top-level module {} is not in LAYERS (tests/architecture.rs)", f.name(), f.top()));
            continue;
        };
        for &j in g.edges.get(&i).into_iter().flatten() {
            let to_top = g.files[j].top();
            if layer(&to_top).is_some_and(|to| to > from) {
                wrong.push(format!("{} imports {} ({to_top} is above {})", f.name(), g.files[j].name(), f.top()));
            }
        }
    }
    // The top-level graph, for `cargo test --test architecture -- --nocapture`.
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (&i, targets) in &g.edges {
        for &j in targets {
            let (a, b) = (g.files[i].top(), g.files[j].top());
            if a != b {
                top.entry(a).or_default().insert(b);
            }
        }
    }
    for (a, bs) in &top {
        println!("{a} -> {}", bs.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    let edges: usize = g.edges.values().map(BTreeSet::len).sum();
    assert!(edges > 200 && top["session"].contains("tcp"), "the reader found only {edges} imports: {top:?}");
    assert!(wrong.is_empty(), "imports that go up the stack ({}):\n{}", LAYERS.join(" → "), wrong.join("\n"));
}

#[test]
fn no_source_file_is_over_700_lines() {
    let long: Vec<String> = source_files()
        .iter()
        .filter_map(|f| {
            let lines = f.text.lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.path.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: split by job: {long:?}");
}

/// The reader itself, on literal code: what counts as an import and what does not.
#[test]
fn the_reader_finds_imports_and_leaves_out_tests_comments_and_strings() {
    let file = SourceFile {
        path: PathBuf::from("src/render/text.rs"),
        module: vec!["render".into(), "text".into()],
        text: r##"
            //! Doc naming crate::cli, which is no import.
            use super::sanitize::{self, sanitize as clean};
            use crate::diagnose::{Severity, codes::{VerdictCode, ALL}};
            pub use crate::textfmt::utc;
            const S: &str = "crate::cli::Cli";
            const R: &str = r#"crate::app "quoted""#;
            const C: char = '{';
            fn f<'a>(x: &'a str) -> bool { smtpdiag::tcp::seq::lt(x) }
            mod inner { use super::super::summary; }
            #[cfg(test)]
            mod tests { use crate::synth::SessionBuilder; }
            #[cfg(all(test, unix))]
            fn unix_only() { crate::app::x() }
            #[cfg(test)]
            mod helpers;
        "##
        .into(),
    };
    let s = scan(&file);
    let got: Vec<String> = s.imports.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        got,
        [
            "render::sanitize",
            "render::sanitize::sanitize",
            "diagnose::Severity",
            "diagnose::codes::VerdictCode",
            "diagnose::codes::ALL",
            "textfmt::utc",
            "tcp::seq::lt",
            "render::summary",
        ]
    );
    assert_eq!(s.test_children, ["helpers"]);
}
