//! The workspace's shape, checked from its sources (ARCHITECTURE.md, "Shape"): no non-test
//! function over 80 lines unless it is a match table, no import cycle among sibling modules,
//! and a code map in ARCHITECTURE.md that names every module. Every non-test source file of
//! every workspace crate (libraries, binaries, build scripts) is parsed with `syn`; the checks
//! themselves are tested on inline snippets in their modules. Runs in about a second.
//!
//! What `syn` cannot see is not checked: functions defined inside a macro invocation
//! (`macro_rules!` bodies, `proptest! { … }`) are not measured, and references inside macro
//! arguments are found from their tokens (`crate::a::f` in `format!(…)` counts).

mod code_map;
mod cycles;
mod functions;
mod sources;

use std::sync::OnceLock;

use cmdb_tests::cli::{cargo_metadata, workspace_root};
use sources::{workspace_targets, Sources};

fn workspace() -> &'static Sources {
    static SOURCES: OnceLock<Sources> = OnceLock::new();
    SOURCES.get_or_init(|| {
        let root = workspace_root();
        let sources = Sources::read(&workspace_targets(&root, &cargo_metadata()), &|p| {
            std::fs::read_to_string(root.join(p)).ok()
        });
        assert!(
            sources.problems.is_empty(),
            "the shape checks could not read these files:\n  {}",
            sources.problems.join("\n  ")
        );
        sources
    })
}

/// Fails with a newcomer's instructions and one offender per line.
fn assert_none(offenders: Vec<String>, what: &str, fix: &str) {
    assert!(
        offenders.is_empty(),
        "\n{} {what}.\n{fix}\n(The rule is in ARCHITECTURE.md, \"Shape\"; this check is \
         tests/tests/shape/.)\n\n  {}\n",
        offenders.len(),
        offenders.join("\n  ")
    );
}

#[test]
fn no_function_is_over_80_lines_unless_it_is_a_match_table() {
    assert_none(
        functions::long_functions(workspace()),
        &format!("non-test functions are over {} lines", functions::MAX_LINES),
        "Split each into steps: smaller functions whose names say what each step does (not \
         helper1/helper2). A function whose body is one `match` mapping cases to values (a match \
         table) may be longer. Test code (#[cfg(test)], #[test], tests/) is not counted.",
    );
}

#[test]
fn no_import_cycle_among_sibling_modules() {
    assert_none(
        cycles::import_cycles(workspace()),
        "groups of sibling modules use each other in a cycle",
        "Modules under one parent must use each other one way only. For each group, pick the \
         direction that should stay and remove the references that go against it: move the \
         shared items down into the module both use (or a new one), or up into the parent. Each \
         edge lists where code names the other module (`use`, paths, macro arguments).",
    );
}

#[test]
fn the_code_map_names_every_module() {
    let map =
        std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    assert_none(
        code_map::unnamed_modules(workspace(), &map),
        "modules are not named in ARCHITECTURE.md's code map",
        "Add a line to the code map (under the crate's entry) naming each one in backticks, by \
         its path from the workspace root, and saying what it owns: \
         \"- `store/src/sqlite/apply.rs` — …\". A module with a directory may be named by it \
         instead (`store/src/sqlite/`). Remove lines for modules that no longer exist.",
    );
}
