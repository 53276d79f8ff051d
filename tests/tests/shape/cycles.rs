//! Rule 2: no import cycle among sibling modules. Among the child modules of any one module (or a
//! crate root), A → B when non-test code anywhere in A's subtree names something in B's subtree
//! (`use crate::b::…`, `super::b::x(…)`, `self::b::T`); a child naming its own ancestors' items
//! is not an edge. A cycle of such edges is an offender.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::sources::{ModPath, Sources};

/// Where one module names another (file, line).
type Evidence = BTreeSet<(PathBuf, usize)>;

/// How many places of an edge a report lists.
const PLACES_SHOWN: usize = 3;

/// The sibling edges under each parent module: parent → (from child, to child) → evidence.
type Edges = BTreeMap<ModPath, BTreeMap<(String, String), Evidence>>;

/// The module a reference lands in: the longest prefix of its path that is a module.
fn target_module<'a>(sources: &Sources, to: &'a [String]) -> &'a [String] {
    (1..=to.len())
        .rev()
        .map(|n| &to[..n])
        .find(|p| sources.modules.contains(*p))
        .unwrap_or(&[])
}

fn sibling_edges(sources: &Sources) -> Edges {
    let mut edges = Edges::new();
    for r in &sources.references {
        let to = target_module(sources, &r.to);
        let common = r.from.iter().zip(to).take_while(|(a, b)| a == b).count();
        // One is the other's ancestor (or the same module): not between siblings.
        if common == 0 || common >= r.from.len() || common >= to.len() {
            continue;
        }
        edges
            .entry(r.from[..common].to_vec())
            .or_default()
            .entry((r.from[common].clone(), to[common].clone()))
            .or_default()
            .insert((r.file.clone(), r.line));
    }
    edges
}

/// The groups of children that reach each other (strongly connected, more than one member).
fn cycles(edges: &BTreeMap<(String, String), Evidence>) -> Vec<BTreeSet<String>> {
    let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        next.entry(a).or_default().insert(b);
    }
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from];
        while let Some(n) = todo.pop() {
            for m in next.get(n).into_iter().flatten() {
                if seen.insert(*m) {
                    todo.push(m);
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&str, BTreeSet<&str>> = next.keys().map(|n| (*n, reach(n))).collect();
    let mut groups: Vec<BTreeSet<String>> = Vec::new();
    for (n, r) in &reachable {
        let group: BTreeSet<String> = r
            .iter()
            .filter(|m| reachable.get(*m).is_some_and(|back| back.contains(n)))
            .map(|m| m.to_string())
            .collect();
        if group.len() > 1 && !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups
}

/// One paragraph per cycle: the parent, its children in the cycle, and for each edge among them
/// where the code names the other module.
pub fn import_cycles(sources: &Sources) -> Vec<String> {
    let mut out = Vec::new();
    for (parent, edges) in sibling_edges(sources) {
        for group in cycles(&edges) {
            let members: Vec<_> = group.iter().map(String::as_str).collect();
            let mut text = format!(
                "children of `{}` that use each other in a cycle: {}",
                parent.join("::"),
                members.join(", ")
            );
            for ((a, b), ev) in &edges {
                if !(group.contains(a) && group.contains(b)) {
                    continue;
                }
                let places: Vec<_> = ev
                    .iter()
                    .take(PLACES_SHOWN)
                    .map(|(f, l)| format!("{}:{l}", f.display()))
                    .collect();
                let more = ev.len().saturating_sub(places.len());
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                text.push_str(&format!("\n    {a} -> {b}: {}{more}", places.join(", ")));
            }
            out.push(text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::from_snippets;

    #[test]
    fn two_siblings_using_each_other_are_a_cycle_with_the_places_named() {
        let s = from_snippets(&[
            ("a/src/lib.rs", "mod types;\nmod loaders;\n"),
            (
                "a/src/types.rs",
                "use crate::loaders::Loader;\npub struct Ci;\n",
            ),
            (
                "a/src/loaders.rs",
                "pub struct Loader;\nfn f() -> super::types::Ci { todo() }\n",
            ),
        ]);
        assert_eq!(
            import_cycles(&s),
            [
                "children of `a` that use each other in a cycle: loaders, types\n    \
              loaders -> types: a/src/loaders.rs:2\n    types -> loaders: a/src/types.rs:1"
            ]
        );
    }

    #[test]
    fn a_longer_cycle_through_subtrees_is_found_at_the_level_where_it_closes() {
        // services/ -> mutation -> query -> services (via `crate::services::x::f` in a macro).
        let s = from_snippets(&[
            (
                "a/src/lib.rs",
                "mod services;\nmod mutation;\nmod query;\nmod other;\n",
            ),
            ("a/src/services/mod.rs", "mod x;\n"),
            ("a/src/services/x.rs", "use crate::mutation::{self, M};\n"),
            (
                "a/src/mutation.rs",
                "fn m() { let _ = crate::query::Q::new(); }\n",
            ),
            (
                "a/src/query.rs",
                "fn q() { println!(\"{}\", crate::services::x::f()); }\n",
            ),
            ("a/src/other.rs", "use crate::query::Q;\n"),
        ]);
        let cycles = import_cycles(&s);
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        assert!(cycles[0].starts_with(
            "children of `a` that use each other in a cycle: mutation, query, services"
        ));
        assert!(
            cycles[0].ends_with("services -> mutation: a/src/services/x.rs:1"),
            "{cycles:?}"
        );
        assert!(cycles[0].contains("query -> services: a/src/query.rs:1"));
        assert!(
            !cycles[0].contains("other ->") && !cycles[0].contains("-> other"),
            "{cycles:?}"
        );
    }

    #[test]
    fn parents_and_children_using_each_other_and_one_way_siblings_are_not_cycles() {
        let s = from_snippets(&[
            (
                "a/src/lib.rs",
                "mod x;\nmod y;\npub struct Top;\nuse x::X;\n",
            ),
            (
                "a/src/x/mod.rs",
                "mod inner;\npub use inner::X;\nuse crate::Top;\n",
            ),
            (
                "a/src/x/inner.rs",
                "pub struct X;\nuse super::super::Top;\nuse crate::y::Y;\n",
            ),
            ("a/src/y.rs", "pub struct Y(crate::Top);\n"),
        ]);
        assert_eq!(import_cycles(&s), Vec::<String>::new());
    }

    #[test]
    fn test_code_and_inline_modules() {
        let s = from_snippets(&[(
            "a/src/lib.rs",
            "mod p {\n  mod a { use super::b::B; pub struct A; }\n  mod b {\n    pub struct B;\n    \
             #[cfg(test)]\n    mod tests { use super::super::a::A; }\n  }\n}\n\
             mod q {\n  mod a { pub fn f() { super::b::g() } }\n  mod b { pub fn g() { super::a::f() } }\n}\n",
        )]);
        let cycles = import_cycles(&s);
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        assert!(
            cycles[0].starts_with("children of `a::q` that use each other"),
            "{cycles:?}"
        );
    }
}
