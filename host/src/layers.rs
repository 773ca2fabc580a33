//! The layer rule of the crate docs, checked over the source: a module
//! may name (`crate::…`) only its own layer, the layers below it, and the
//! foundation. A reference that runs up a layer fails this test with the
//! file and line.

use std::collections::BTreeSet;
use std::path::Path;

/// Modules every layer may use: value types, errors, the generated
/// bindings and the network primitives, none of which imports a layer.
const FOUNDATION: &[&str] = &[
    "bindings",
    "builtin",
    "catalogue",
    "error",
    "manifest",
    "net",
    "secret",
    "util",
    "wit",
];

/// Each layer and what it may reach besides itself and the foundation,
/// bottom first.
const LAYERS: &[(&str, &[&str])] = &[
    ("store", &[]),
    ("capabilities", &[]),
    ("runtime", &["capabilities"]),
    ("manager", &["store", "runtime", "capabilities"]),
    ("platform", &["manager", "store"]),
];

/// The top-level module names `line` refers to through `crate::`,
/// including each name in a `crate::{a, b::c}` group.
fn crate_refs(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                    _ if depth == 0 => item.push(c),
                    _ => {}
                }
            }
            items.push(item);
            out.extend(items.iter().filter_map(|i| first_segment(i)));
        } else if let Some(name) = first_segment(rest) {
            out.push(name);
        }
    }
    out
}

fn first_segment(path: &str) -> Option<String> {
    let name: String = path
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "self").then_some(name)
}

/// `(file, line number, layer of the file, module named)` for every
/// reference that breaks the rule, over the `.rs` files under `dir`.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy();
        let module = top.trim_end_matches(".rs").to_string();
        let allowed: BTreeSet<&str> =
            if let Some((_, below)) = LAYERS.iter().find(|(layer, _)| *layer == module) {
                below.iter().copied().chain([module.as_str()]).collect()
            } else if FOUNDATION.contains(&module.as_str()) {
                [module.as_str()].into()
            } else {
                // lib.rs and this file sit above every layer.
                continue;
            };
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for name in crate_refs(line) {
                if !FOUNDATION.contains(&name.as_str()) && !allowed.contains(name.as_str()) {
                    bad.push(format!(
                        "{}:{}: `{module}` names `crate::{name}`",
                        rel.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    bad.sort();
    bad
}

#[test]
fn no_module_names_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(
        bad.is_empty(),
        "imports that run up a layer:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_checker_sees_grouped_and_nested_paths() {
    assert_eq!(
        crate_refs("use crate::{store::{A, B}, manager::C, self};"),
        ["store", "manager"]
    );
    assert_eq!(
        crate_refs("let x = crate::platform::audit::f(crate::util::now());"),
        ["platform", "util"]
    );
    // Every top-level module is placed, so a new one cannot slip past.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let module = name.trim_end_matches(".rs");
        let placed = FOUNDATION.contains(&module)
            || LAYERS.iter().any(|(l, _)| *l == module)
            || ["lib", "layers"].contains(&module);
        assert!(placed, "`{module}` has no layer in layers.rs");
    }
}
