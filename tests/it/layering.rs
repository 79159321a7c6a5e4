//! The module layering the README's "Architecture" section declares, enforced: every
//! `crate::<module>` reference in the code of a top-level module of `src/` points to a module
//! on a lower line of the declared list (so there is no cycle), every top-level module has a
//! place in the list, and the simulator stands beside the recorder (it uses only the bottom
//! line and only `cli` uses it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules beside the layers rather than in them.
const BESIDE: &[&str] = &["sim"];
/// The only module allowed to use the ones beside.
const BESIDE_USERS: &[&str] = &["cli"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The declared layers, top first: the lines of the ```text block after the README's
/// `<!-- layers: top to bottom -->` marker.
fn declared_layers() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let after = readme
        .split("<!-- layers: top to bottom -->")
        .nth(1)
        .expect("the README declares the layers after `<!-- layers: top to bottom -->`");
    let block = after
        .split("```text")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a ```text block lists the layers");
    block
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Top-level module name → the files it consists of.
fn modules() -> BTreeMap<String, Vec<std::path::PathBuf>> {
    let src = root().join("src");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("src/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
            .to_string();
        if name == "lib" || name == "main" {
            continue;
        }
        let mut files = Vec::new();
        collect_rs(&path, &mut files);
        out.entry(name).or_insert_with(Vec::new).extend(files);
    }
    out
}

fn collect_rs(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for e in std::fs::read_dir(path).expect("dir") {
            collect_rs(&e.expect("entry").path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The top-level modules a file's code refers to as `crate::x` or `crate::{x, …}` (comments,
/// doc comments included, are not code).
fn references(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for part in inner.split(',') {
                    let name: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.insert(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

#[test]
fn imports_point_down_the_declared_layers() {
    let layers = declared_layers();
    let level: BTreeMap<String, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, names)| names.iter().map(move |n| (n.clone(), i)))
        .collect();
    let bottom = layers.len() - 1;
    let mut problems = Vec::new();
    for (module, files) in modules() {
        let beside = BESIDE.contains(&module.as_str());
        if !beside && !level.contains_key(&module) {
            problems.push(format!(
                "src/{module} has no place in the README's layers: add it to the list"
            ));
            continue;
        }
        for file in files {
            let text = std::fs::read_to_string(&file).expect("source file");
            for target in references(&text) {
                if target == module {
                    continue;
                }
                let shown = file.strip_prefix(root()).unwrap_or(&file).display();
                let ok = match (beside, BESIDE.contains(&target.as_str())) {
                    (_, true) => BESIDE_USERS.contains(&module.as_str()),
                    (true, false) => level.get(&target) == Some(&bottom),
                    (false, false) => match (level.get(&module), level.get(&target)) {
                        (Some(from), Some(to)) => to > from,
                        _ => false,
                    },
                };
                if !ok {
                    problems.push(format!(
                        "{shown}: {module} uses crate::{target}, against the declared order"
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "module layering (README \"Architecture\") broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_reference_scan_sees_grouped_and_plain_paths_but_not_comments() {
    let text = "use crate::{store::Store, backoff};\nlet x = crate::dash::mp4::x(); // crate::cli\n/// [`crate::daemon`]\n";
    let found: Vec<String> = references(text).into_iter().collect();
    assert_eq!(found, vec!["backoff", "dash", "store"]);
}
