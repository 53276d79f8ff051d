//! Rule 3: ARCHITECTURE.md's code map names every module of every workspace crate. A module in
//! a file under a crate's `src/` is named by its path from the workspace root in backticks
//! (`` `store/src/sqlite/apply.rs` ``); a module with a directory of its own may be named by
//! that directory instead (`` `store/src/sqlite/` `` for `sqlite.rs` or `sqlite/mod.rs`).

use std::collections::BTreeSet;
use std::path::Path;

use crate::sources::{is_test_path, FileModule, Sources};

/// The names that count for a module: its file, and its directory if it has one.
fn names(module: &FileModule) -> Vec<String> {
    let slash = |p: &Path| p.to_string_lossy().replace('\\', "/");
    let mut names = vec![slash(&module.file)];
    if let Some(dir) = &module.dir {
        names.push(format!("{}/", slash(dir)));
    }
    names
}

/// `file (module path)` for every module under a crate's `src/` that `map` does not name.
pub fn unnamed_modules(sources: &Sources, map: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for m in &sources.files {
        let in_src = m.file.starts_with(m.crate_dir.join("src"));
        if !in_src || is_test_path(&m.file, &m.crate_dir) || !seen.insert(m.file.clone()) {
            continue;
        }
        let names = names(m);
        if !names.iter().any(|n| map.contains(&format!("`{n}`"))) {
            out.push(format!(
                "`{}` (module {})",
                names.join("` or `"),
                m.module.join("::")
            ));
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::from_snippets;

    fn crate_a() -> Sources {
        from_snippets(&[
            (
                "a/src/lib.rs",
                "mod one;\nmod two;\nmod three;\n#[cfg(test)]\nmod tests;\n",
            ),
            ("a/src/one.rs", ""),
            ("a/src/two.rs", "mod child;\n"),
            ("a/src/two/child.rs", ""),
            ("a/src/three/mod.rs", ""),
            ("a/src/tests.rs", ""),
        ])
    }

    #[test]
    fn every_module_file_must_be_named_in_backticks() {
        let map = "- `a/src/lib.rs` the root\n- a/src/one.rs (no backticks)\n- `a/src/two/` and \
                   `a/src/two/child.rs`\n";
        assert_eq!(
            unnamed_modules(&crate_a(), map),
            [
                "`a/src/one.rs` (module a::one)",
                "`a/src/three/mod.rs` or `a/src/three/` (module a::three)"
            ]
        );
    }

    #[test]
    fn a_directory_or_its_file_names_a_module_and_test_modules_need_no_line() {
        let map =
            "`a/src/lib.rs` `a/src/one.rs` `a/src/two.rs` `a/src/two/child.rs` `a/src/three/`";
        assert_eq!(unnamed_modules(&crate_a(), map), Vec::<String>::new());
    }
}
