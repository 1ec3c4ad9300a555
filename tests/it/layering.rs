//! The house's layering, checked: every folder of `src/` is a layer that imports only the layers
//! below it (storage knows no stage, and inside storage the object store knows nothing of the lake
//! policy above it, `src/storage/policy/`), and only `src/storage/` talks to the object store client,
//! the async runtime and the OS calls behind the local disk's guarantees, or tells a local path from an
//! `s3://` URL. The same picture is drawn in `src/lib.rs` and the README's code map.

use std::path::{Path, PathBuf};

/// Layers from the bottom up; a module may use modules of its own layer's folder or file and of lower
/// layers. The engines (one per command) share a layer and do not use each other.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "base",
        &["date", "error", "paths", "hash", "threads", "testutil"],
    ),
    ("storage", &["storage"]),
    ("enrich", &["enrich"]),
    ("lake", &["lake"]),
    ("text", &["text"]),
    ("input", &["input"]),
    ("engines", &["convert", "compact", "verify", "ddl", "synth"]),
];

/// Crates only `src/storage/` may use.
const STORAGE_ONLY_CRATES: &[&str] = &["object_store", "tokio", "rustix", "futures"];

/// The layer index and top module of a source file (`src/lake/write.rs` -> lake), or `None` for the
/// binary and the crate root, which sit above every layer.
fn layer_of(rel: &str) -> Option<(usize, String)> {
    let rest = rel.strip_prefix("src/")?;
    let top = rest.split('/').next()?.trim_end_matches(".rs");
    if ["main", "cli", "progress", "render", "lib"].contains(&top) {
        return None;
    }
    let layer = LAYERS.iter().position(|(_, mods)| mods.contains(&top))?;
    Some((layer, top.to_string()))
}

fn layer_of_module(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

/// The code of a file without its comments (doc links may name any module).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
}

/// What breaks the layering in one file (`rel` is its path from the crate root).
fn violations(rel: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let in_storage = rel.starts_with("src/storage/");
    let object_store = in_storage && !rel.starts_with("src/storage/policy/");
    let own = layer_of(rel);
    if rel.starts_with("src/") && own.is_none() && !rel.ends_with("main.rs") {
        let top = rel
            .trim_start_matches("src/")
            .split('/')
            .next()
            .unwrap_or("");
        if !["cli.rs", "progress.rs", "render.rs", "lib.rs"].contains(&top) {
            out.push(format!(
                "{rel}: not in any layer (add it to LAYERS in tests/it/layering.rs)"
            ));
        }
    }
    for (n, line) in code_lines(text) {
        if !in_storage {
            for krate in STORAGE_ONLY_CRATES {
                let used = (line.contains(&format!("{krate}::"))
                    && !line.contains(&format!("_{krate}::")))
                    || line.trim_start().starts_with(&format!("use {krate}"));
                if used {
                    out.push(format!(
                        "{rel}:{n}: uses {krate} outside src/storage/: {line}"
                    ));
                }
            }
            if line.contains("\"s3://\"") && line.contains("starts_with") {
                out.push(format!(
                    "{rel}:{n}: tells local from S3 by a path's prefix outside src/storage/: {line}"
                ));
            }
        }
        if object_store && line.contains("policy::") {
            out.push(format!(
                "{rel}:{n}: the object store uses the lake policy above it: {line}"
            ));
        }
    }
    let Some((layer, top)) = &own else {
        return out;
    };
    // Every module named after `crate::`, in plain paths and in `crate::{a::X, b::{Y, Z}}` groups
    // (which may span lines), with the line it is on.
    let code: String = code_lines(text)
        .map(|(_, l)| l)
        .collect::<Vec<_>>()
        .join("\n");
    let line_of = |at: usize| {
        let skipped: Vec<usize> = code_lines(text).map(|(n, _)| n).collect();
        skipped[code[..at].matches('\n').count()]
    };
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let modules: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
            group_heads(group)
        } else {
            vec![rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()]
        };
        for module in modules {
            let Some(target) = layer_of_module(&module) else {
                continue; // an item of the crate root (`crate::Error`...)
            };
            let allowed = module == *top || target < *layer || (target == 0 && *layer == 0);
            if !allowed {
                let n = line_of(at);
                out.push(format!(
                    "{rel}:{n}: the {} layer uses `{module}` ({} layer)",
                    LAYERS[*layer].0, LAYERS[target].0,
                ));
            }
        }
    }
    out
}

/// The first path segment of each item of a `{...}` use group (`group` starts after the `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let (mut depth, mut item) = (0usize, String::new());
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                heads.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        if depth == 0 {
            item.push(c);
        }
    }
    heads.push(item);
    heads
        .iter()
        .map(|i| {
            i.trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_layer_imports_only_the_layers_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    assert!(files.len() > 30, "found {} files", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(file).unwrap();
        problems.extend(violations(&rel, &text));
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_check_catches_each_kind_of_breach() {
    // Storage that knows a stage.
    let v = violations("src/storage/local.rs", "use crate::lake::ledger::Manifest;");
    assert_eq!(v.len(), 1, "{v:?}");
    // A lower layer that climbs (lake -> text, input -> convert), and an engine that uses another.
    assert_eq!(
        violations("src/lake/manifest.rs", "use crate::input::parse::X;").len(),
        1
    );
    assert_eq!(
        violations("src/input/discover.rs", "use crate::convert::config::X;").len(),
        1
    );
    assert_eq!(
        violations("src/compact.rs", "let p = crate::convert::thread_pool(1);").len(),
        1
    );
    // Grouped and multi-line imports are read too.
    assert_eq!(
        violations(
            "src/lake/write.rs",
            "use crate::{\n    error::Error,\n    input::{discover::X, read::Y},\n};"
        ),
        vec!["src/lake/write.rs:1: the lake layer uses `input` (input layer)".to_string()]
    );
    // object_store, tokio or rustix, or a prefix test, outside storage.
    assert_eq!(
        violations("src/lake/dataset.rs", "use object_store::path::Path;").len(),
        1
    );
    assert_eq!(
        violations("src/lake/dataset.rs", "use object_store as os;").len(),
        1
    );
    assert_eq!(
        violations(
            "src/convert/mod.rs",
            "let rt = tokio::runtime::Builder::new();"
        )
        .len(),
        1
    );
    assert_eq!(
        violations("src/main.rs", "if p.starts_with(\"s3://\") {}").len(),
        1
    );
    // The object store that uses the lake policy above it (the policy may use the object store).
    assert_eq!(
        violations("src/storage/s3store.rs", "use super::policy::Lock;").len(),
        1
    );
    assert!(violations("src/storage/policy/s3.rs", "use crate::storage::Store;").is_empty());
    // What is allowed: downward uses, uses inside one folder, comments, and storage's own crates.
    assert!(violations(
        "src/input/parse.rs",
        "use crate::text::batch::BatchBuilder;\nuse crate::input::read::FileReader;\n//! [`x`](crate::convert::Report)"
    )
    .is_empty());
    assert!(violations("src/storage/s3.rs", "use object_store::path::Path;").is_empty());
    // A file outside every layer is named.
    assert_eq!(violations("src/newthing.rs", "").len(), 1);
}

/// The sibling modules a file of `folder` uses (its code before any `#[cfg(test)]`): through
/// `super::<name>` or `crate::<folder>::<name>`, in `use` statements (grouped ones too) and in paths.
fn sibling_uses(folder: &str, siblings: &[String], text: &str) -> Vec<String> {
    let code: String = code_lines(text.split("#[cfg(test)]").next().unwrap_or(""))
        .map(|(_, l)| l)
        .collect::<Vec<_>>()
        .join("\n");
    let prefixes = ["super::".to_string(), format!("crate::{folder}::")];
    let mut used = Vec::new();
    for prefix in &prefixes {
        for (at, _) in code.match_indices(prefix.as_str()) {
            // The path after the prefix, up to the end of its statement or expression.
            let rest = &code[at + prefix.len()..];
            let end = rest.find([';', '(', '=']).unwrap_or(rest.len());
            let path = &rest[..end];
            let first = path
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("");
            let names: Vec<&str> = if path.starts_with('{') {
                // `super::{a, b::{C}, d}`: the names at the group's top level.
                let mut depth = 0;
                let mut top = String::new();
                for c in path.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ if depth == 1 => top.push(c),
                        _ => {}
                    }
                }
                top.split(',')
                    .map(|p| p.trim().split("::").next().unwrap_or("").trim())
                    .map(|s| {
                        siblings
                            .iter()
                            .find(|n| n.as_str() == s)
                            .map(String::as_str)
                            .unwrap_or("")
                    })
                    .collect()
            } else {
                vec![first]
            };
            for name in names {
                if siblings.iter().any(|s| s == name) && !used.iter().any(|u| u == name) {
                    used.push(name.to_string());
                }
            }
        }
    }
    used
}

/// A cycle among the modules of one folder, if any (module names, first repeated at the end).
fn cycle(edges: &std::collections::BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &std::collections::BTreeMap<String, Vec<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

/// Every folder below `dir`, at any depth.
fn folders(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().is_dir() {
            out.push(entry.path());
            folders(&entry.path(), out);
        }
    }
}

/// No import circle among the files of one folder (its `mod.rs`, which declares them, and its
/// `tests.rs` aside), at any depth: each folder reads as a small pipeline too.
#[test]
fn no_folder_has_an_import_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    let mut dirs = Vec::new();
    folders(&src, &mut dirs);
    for dir in dirs {
        // The folder's module path (`storage::policy`).
        let folder = dir
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace(['/', '\\'], "::");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .collect();
        files.sort();
        let stem = |p: &Path| p.file_stem().unwrap().to_string_lossy().into_owned();
        files.retain(|p| !["mod", "tests"].contains(&stem(p).as_str()));
        let siblings: Vec<String> = files.iter().map(|p| stem(p)).collect();
        let mut edges = std::collections::BTreeMap::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            edges.insert(stem(file), sibling_uses(&folder, &siblings, &text));
        }
        checked += files.len();
        assert_eq!(
            cycle(&edges),
            None,
            "an import circle in {}: {edges:?}",
            dir.display()
        );
    }
    assert!(checked > 30, "checked {checked} files");
    // The check sees the forms imports take.
    let siblings: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        sibling_uses(
            "x",
            &siblings,
            "use super::{a, b::{T, U}};\nfn f() { crate::x::c::g() }"
        ),
        ["a", "b", "c"]
    );
    let circle = [("a", "b"), ("b", "c"), ("c", "a")]
        .iter()
        .map(|(f, t)| (f.to_string(), vec![t.to_string()]))
        .collect();
    assert_eq!(cycle(&circle).unwrap().len(), 4);
}
