//! Rule 1: no non-test function is over [`MAX_LINES`] lines, from its `fn` line to its closing
//! brace, unless its body is one `match` expression (a match table: cases mapped to values).

use std::collections::BTreeSet;

use crate::sources::Sources;

pub const MAX_LINES: usize = 80;

/// `file:line: fn name is N lines` for every offender, in file order.
pub fn long_functions(sources: &Sources) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut long: Vec<_> = sources
        .functions
        .iter()
        .filter(|f| f.lines > MAX_LINES && !f.match_table)
        // A file two targets share (a binary declaring the library's modules) counts once.
        .filter(|f| seen.insert((f.file.clone(), f.line)))
        .collect();
    long.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    long.iter()
        .map(|f| {
            format!(
                "{}:{}: fn {} is {} lines",
                f.file.display(),
                f.line,
                f.name,
                f.lines
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::from_snippets;

    /// A function whose body is `body_lines` statement lines (so `body_lines + 2` in all).
    fn function(name: &str, body_lines: usize) -> String {
        let body: String = (0..body_lines)
            .map(|i| format!("    let _x{i} = {i};\n"))
            .collect();
        format!("fn {name}() {{\n{body}}}\n")
    }

    fn match_table(name: &str, arms: usize) -> String {
        let arms: String = (0..arms)
            .map(|i| format!("        {i} => \"{i}\",\n"))
            .collect();
        format!("fn {name}(n: u32) -> &'static str {{\n    match n {{\n{arms}        _ => \"many\",\n    }}\n}}\n")
    }

    #[test]
    fn a_function_over_80_lines_is_named_with_its_file_line_and_length() {
        let src = format!("{}\n{}", function("short", 78), function("long", 79));
        let s = from_snippets(&[("a/src/lib.rs", &src)]);
        assert_eq!(long_functions(&s), ["a/src/lib.rs:82: fn long is 81 lines"]);
    }

    #[test]
    fn methods_and_trait_defaults_are_named_after_their_type() {
        let body = function("run", 90);
        let src = format!("struct S;\nimpl S {{\n{body}}}\ntrait T {{\n{body}}}\n");
        let s = from_snippets(&[("a/src/lib.rs", &src)]);
        assert_eq!(
            long_functions(&s),
            [
                "a/src/lib.rs:3: fn S::run is 92 lines",
                "a/src/lib.rs:97: fn T::run is 92 lines"
            ]
        );
    }

    #[test]
    fn a_match_table_may_be_long_but_not_a_match_after_other_statements() {
        let table = match_table("name", 100);
        let not_table = table.replacen("    match n", "    let n = n + 1;\n    match n", 1);
        let src = format!(
            "{table}\nmod inner {{\n{}}}\n",
            not_table.replace("fn name", "fn named")
        );
        let s = from_snippets(&[("a/src/lib.rs", &src)]);
        assert_eq!(
            long_functions(&s),
            ["a/src/lib.rs:108: fn named is 106 lines"]
        );
    }

    #[test]
    fn test_code_is_left_out() {
        let long = function("long", 100);
        let src = format!(
            "#[cfg(test)]\nmod tests {{\n{long}}}\n#[test]\n{long}\n#[tokio::test]\nasync {long}\n\
             #[cfg(all(test, unix))]\n{long}\nmod helpers;\n#[cfg(test)]\nmod more;\n"
        );
        let s = from_snippets(&[
            ("a/src/lib.rs", &src),
            ("a/src/helpers.rs", "fn ok() {}\n"),
            ("a/src/more.rs", &long),
            ("a/tests/t.rs", &long),
        ]);
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(long_functions(&s), Vec::<String>::new());
    }

    #[test]
    fn non_test_cfgs_are_code() {
        let long = function("long", 100);
        let src = format!("#[cfg(any(test, feature = \"x\"))]\n{long}\n#[cfg(not(test))]\n{long}");
        let s = from_snippets(&[("a/src/lib.rs", &src)]);
        assert_eq!(long_functions(&s).len(), 2);
    }

    #[test]
    fn functions_in_child_module_files_are_found() {
        let s = from_snippets(&[
            ("a/src/lib.rs", "mod x;\n"),
            ("a/src/x.rs", "mod y;\n"),
            ("a/src/x/y/mod.rs", &function("deep", 85)),
        ]);
        assert_eq!(
            long_functions(&s),
            ["a/src/x/y/mod.rs:1: fn deep is 87 lines"]
        );
    }
}
