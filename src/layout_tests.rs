//! The walls of the house, as tests: the pure core imports no I/O, and no
//! two modules import each other (directly or round a loop). Both read the
//! source, so a new `use` that breaks a wall fails here with its file and
//! line. Unit tests (from `#[cfg(test)]` on, and the `*tests.rs` files) may
//! cross walls: they build a policy from a config text, some drive the
//! whole pipeline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every library source file's module path (`desk::sla::calendar`) and its
/// code before any `#[cfg(test)]`; test files are left out.
fn modules() -> BTreeMap<String, (PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut out = BTreeMap::new();
    for f in all {
        let rel = f.strip_prefix(&src).unwrap().with_extension("");
        let rel = rel.to_string_lossy().replace('/', "::");
        let name = rel.strip_suffix("::mod").unwrap_or(&rel).to_string();
        if name.ends_with("tests") || name == "main" || name == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
        out.insert(name, (f, code));
    }
    out
}

/// The modules a file's code names as `crate::…`, with the line of the first
/// mention, resolved to the longest module path that exists.
fn imports(code: &str, names: &BTreeSet<String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (i, line) in code.lines().enumerate() {
        // Doc links and comments name modules without importing them.
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
            while !parts.is_empty() {
                let candidate = parts.join("::");
                if names.contains(&candidate) {
                    out.entry(candidate).or_insert(i + 1);
                    break;
                }
                parts.pop();
            }
        }
    }
    out
}

#[test]
fn the_core_imports_no_io() {
    const FORBIDDEN: &[&str] = &[
        "config", "store", "pipeline", "source", "outbound", "outbox", "daemon", "compose",
        "rspamd",
    ];
    let mods = modules();
    let names: BTreeSet<String> = mods.keys().cloned().collect();
    let core: Vec<&String> = names.iter().filter(|n| n.starts_with("desk")).collect();
    assert!(core.len() > 20, "expected the core's files, found {core:?}");
    let mut bad = Vec::new();
    for n in core {
        let (file, code) = &mods[n];
        for (m, line) in imports(code, &names) {
            let top = m.split("::").next().unwrap_or("");
            if FORBIDDEN.contains(&top) {
                bad.push(format!("{}:{line}: imports {m}", file.display()));
            }
        }
    }
    assert!(bad.is_empty(), "the core imports I/O:\n{}", bad.join("\n"));
}

#[test]
fn no_module_imports_itself_round_a_loop() {
    let mods = modules();
    let names: BTreeSet<String> = mods.keys().cloned().collect();
    let graph: BTreeMap<&str, BTreeMap<String, usize>> = mods
        .iter()
        .map(|(n, (_, code))| {
            let mut deps = imports(code, &names);
            // A parent's `mod child;` is not an import, nor a child naming its parent.
            deps.retain(|d, _| d != n && !n.starts_with(&format!("{d}::")));
            (n.as_str(), deps)
        })
        .collect();
    assert!(
        graph.len() > 40,
        "expected the crate's modules, found {}",
        graph.len()
    );
    // Depth-first search for a back edge; reports the first loop found.
    fn visit<'a>(
        n: &'a str,
        graph: &'a BTreeMap<&'a str, BTreeMap<String, usize>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(i) = path.iter().position(|p| *p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n);
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n);
        for d in graph.get(n).into_iter().flat_map(|m| m.keys()) {
            if let Some(c) = visit(d, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n);
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, &graph, &mut Vec::new(), &mut done) {
            panic!("an import loop: {}", c.join(" -> "));
        }
    }
}
