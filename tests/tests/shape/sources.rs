//! The workspace's sources as the shape checks see them: each crate target's module tree, read by
//! following `mod` declarations from its root file, and what its non-test code holds — the
//! functions (with their lines) and the references to modules (`crate::…`, `super::…`,
//! `self::…` in `use` items, paths and macro arguments).
//!
//! Test code is left out everywhere: `#[cfg(test)]` items and modules (so `tests.rs` modules),
//! `#[test]`-like functions, and files under a crate's `tests/`, `benches/` or `examples/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Attribute, Expr, ImplItem, Item, Meta, Stmt, TraitItem, UseTree};

/// A module path, crate name first: `["cmdb_store", "sqlite", "apply"]`.
pub type ModPath = Vec<String>;

/// One crate target to read: its root file and the name its modules are reported under.
#[derive(Clone, Debug)]
pub struct Target {
    /// The crate's directory, relative to the workspace root (`store`).
    pub crate_dir: PathBuf,
    /// The root file, relative to the workspace root (`store/src/lib.rs`).
    pub root: PathBuf,
    /// The crate name as code names it (`cmdb_store`).
    pub name: String,
}

/// A module that lives in a file of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileModule {
    pub module: ModPath,
    /// Relative to the workspace root.
    pub file: PathBuf,
    /// The directory holding its child modules' files, when it has any (`store/src/sqlite/`).
    pub dir: Option<PathBuf>,
    pub crate_dir: PathBuf,
    pub is_root: bool,
}

/// A non-test function or method.
#[derive(Clone, Debug)]
pub struct Function {
    /// `name`, or `Type::name` for a method.
    pub name: String,
    pub file: PathBuf,
    /// The line of the `fn` keyword.
    pub line: usize,
    /// From the `fn` line to the closing brace.
    pub lines: usize,
    /// The body is one `match` expression and nothing else.
    pub match_table: bool,
}

/// Non-test code in `from` names `to` (a path: a module, maybe followed by item names).
#[derive(Clone, Debug)]
pub struct Reference {
    pub from: ModPath,
    pub to: ModPath,
    pub file: PathBuf,
    pub line: usize,
}

/// Everything the checks need, over all targets read.
#[derive(Default, Debug)]
pub struct Sources {
    pub files: Vec<FileModule>,
    /// Every module: the file modules and the inline ones (`mod x { … }`).
    pub modules: BTreeSet<ModPath>,
    pub functions: Vec<Function>,
    pub references: Vec<Reference>,
    /// Files that could not be read or parsed, with why.
    pub problems: Vec<String>,
}

impl Sources {
    /// Reads every target through `read` (a path relative to the workspace root → its text).
    pub fn read(targets: &[Target], read: &dyn Fn(&Path) -> Option<String>) -> Sources {
        let mut sources = Sources::default();
        let mut seen = BTreeSet::new();
        for target in targets {
            let root = FileModule {
                module: vec![target.name.clone()],
                file: target.root.clone(),
                dir: None,
                crate_dir: target.crate_dir.clone(),
                is_root: true,
            };
            sources.read_file(root, read, &mut seen);
        }
        sources
    }

    /// Reads one module file, records what its non-test code holds, and reads its child modules.
    fn read_file(
        &mut self,
        mut module: FileModule,
        read: &dyn Fn(&Path) -> Option<String>,
        seen: &mut BTreeSet<(ModPath, PathBuf)>,
    ) {
        if !seen.insert((module.module.clone(), module.file.clone())) {
            return;
        }
        let Some(text) = read(&module.file) else {
            self.problems
                .push(format!("{}: cannot read the file", module.file.display()));
            return;
        };
        let ast = match syn::parse_file(&text) {
            Ok(ast) => ast,
            Err(e) => {
                let at = e.span().start();
                self.problems.push(format!(
                    "{}:{}: does not parse: {e}",
                    module.file.display(),
                    at.line
                ));
                return;
            }
        };
        let children = child_modules(&module, &ast.items, &[], read);
        let dir = children_dir(&module);
        let is_mod_rs = module.file.file_name().is_some_and(|n| n == "mod.rs");
        if !module.is_root && (is_mod_rs || children.iter().any(|c| c.file.starts_with(&dir))) {
            module.dir = Some(dir);
        }
        self.modules.insert(module.module.clone());
        if !is_test_path(&module.file, &module.crate_dir) {
            let mut collector = Collector {
                file: module.file.clone(),
                module: module.module.clone(),
                crate_name: module.module[0].clone(),
                impl_type: None,
                sources: self,
            };
            collector.visit_file(&ast);
        }
        self.files.push(module);
        for child in children {
            self.read_file(child, read, seen);
        }
    }
}

/// Is this file test code by where it lives: under a `tests/`, `benches/` or `examples/`
/// directory of its crate, or of another crate it was included from with `#[path]`?
pub fn is_test_path(file: &Path, crate_dir: &Path) -> bool {
    let inside: PathBuf = match file.strip_prefix(crate_dir) {
        Ok(inside) => inside.to_path_buf(),
        // Another crate's file: skip that crate's directory.
        Err(_) => file.components().skip(1).collect(),
    };
    let dirs = inside.parent().map(Path::components).into_iter().flatten();
    dirs.map(|c| c.as_os_str())
        .any(|c| c == "tests" || c == "benches" || c == "examples")
}

/// Where the files of a module's children live: beside a root or `mod.rs`, else in a directory
/// named after the module (`sqlite.rs` → `sqlite/`).
fn children_dir(module: &FileModule) -> PathBuf {
    let parent = module.file.parent().unwrap_or(Path::new(""));
    let stem = module
        .file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    if module.is_root || stem == "mod" {
        parent.to_path_buf()
    } else {
        parent.join(stem)
    }
}

/// The non-test `mod x;` declarations of a file (also inside inline modules), as file modules.
fn child_modules(
    module: &FileModule,
    items: &[Item],
    inline: &[String],
    read: &dyn Fn(&Path) -> Option<String>,
) -> Vec<FileModule> {
    let mut out = Vec::new();
    for item in items {
        let Item::Mod(m) = item else { continue };
        if is_test_code(&m.attrs) {
            continue;
        }
        let name = m.ident.to_string();
        let mut path = module.module.clone();
        path.extend(inline.iter().cloned());
        path.push(name.clone());
        if let Some((_, items)) = &m.content {
            let mut inner = inline.to_vec();
            inner.push(name);
            out.extend(child_modules(module, items, &inner, read));
            continue;
        }
        let mut base = children_dir(module);
        base.extend(inline);
        let candidates = match path_attr(&m.attrs) {
            Some(p) => vec![normalize(
                &module.file.parent().unwrap_or(Path::new("")).join(p),
            )],
            None => vec![
                base.join(format!("{name}.rs")),
                base.join(&name).join("mod.rs"),
            ],
        };
        let file = candidates
            .iter()
            .find(|c| read(c).is_some())
            .unwrap_or(&candidates[0])
            .clone();
        out.push(FileModule {
            module: path,
            file,
            dir: None,
            crate_dir: module.crate_dir.clone(),
            is_root: false,
        });
    }
    out
}

fn path_attr(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| match &a.meta {
        Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

/// `a/b/../c` → `a/c`, so a `#[path]` into another crate gives a plain workspace path.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Test code by its attributes: `#[cfg(test)]` (also `all(test, …)`), `#[test]`,
/// `#[tokio::test]` and the like, `#[bench]`.
pub fn is_test_code(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        let last = a.path().segments.last().map(|s| s.ident.to_string());
        if matches!(last.as_deref(), Some("test" | "bench")) {
            return true;
        }
        a.path().is_ident("cfg") && a.parse_args::<Meta>().is_ok_and(|m| cfg_is_test_only(&m))
    })
}

/// Does this `cfg` predicate hold only when testing?
fn cfg_is_test_only(meta: &Meta) -> bool {
    let nested = |list: &syn::MetaList| {
        list.parse_args_with(Punctuated::<Meta, syn::Token![,]>::parse_terminated)
            .map(|v| v.into_iter().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    match meta {
        Meta::Path(p) => p.is_ident("test"),
        Meta::List(l) if l.path.is_ident("all") => nested(l).iter().any(cfg_is_test_only),
        Meta::List(l) if l.path.is_ident("any") => {
            let v = nested(l);
            !v.is_empty() && v.iter().all(cfg_is_test_only)
        }
        _ => false,
    }
}

fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

fn impl_item_attrs(item: &ImplItem) -> &[Attribute] {
    match item {
        ImplItem::Const(i) => &i.attrs,
        ImplItem::Fn(i) => &i.attrs,
        ImplItem::Type(i) => &i.attrs,
        ImplItem::Macro(i) => &i.attrs,
        _ => &[],
    }
}

fn trait_item_attrs(item: &TraitItem) -> &[Attribute] {
    match item {
        TraitItem::Const(i) => &i.attrs,
        TraitItem::Fn(i) => &i.attrs,
        TraitItem::Type(i) => &i.attrs,
        TraitItem::Macro(i) => &i.attrs,
        _ => &[],
    }
}

/// Walks one file's non-test code.
struct Collector<'a> {
    file: PathBuf,
    /// The module the code being walked is in (inline modules included).
    module: ModPath,
    crate_name: String,
    /// The type (or trait) whose `impl`/`trait` block is being walked, for method names.
    impl_type: Option<String>,
    sources: &'a mut Sources,
}

impl Collector<'_> {
    fn function(&mut self, name: &syn::Ident, fn_token: &syn::Token![fn], block: &syn::Block) {
        let line = fn_token.span.start().line;
        let end = block.brace_token.span.close().end().line;
        let match_table = matches!(block.stmts.as_slice(), [Stmt::Expr(Expr::Match(_), None)]);
        let name = match &self.impl_type {
            Some(t) => format!("{t}::{name}"),
            None => name.to_string(),
        };
        self.sources.functions.push(Function {
            name,
            file: self.file.clone(),
            line,
            lines: end + 1 - line,
            match_table,
        });
    }

    /// Records a reference given as path segments (`crate`, `a`, `B`), if it names a module
    /// through `crate`, `super` or `self`.
    fn reference(&mut self, segments: &[String], line: usize) {
        let (mut to, rest) = match segments.first().map(String::as_str) {
            Some("crate") => (vec![self.crate_name.clone()], &segments[1..]),
            Some("self") => (self.module.clone(), &segments[1..]),
            Some("super") => {
                let mut to = self.module.clone();
                let mut rest = segments;
                while rest.first().map(String::as_str) == Some("super") {
                    to.pop();
                    rest = &rest[1..];
                }
                (to, rest)
            }
            _ => return,
        };
        if rest.is_empty() || to.is_empty() {
            return;
        }
        to.extend(rest.iter().cloned());
        self.sources.references.push(Reference {
            from: self.module.clone(),
            to,
            file: self.file.clone(),
            line,
        });
    }

    fn use_tree(&mut self, tree: &UseTree, prefix: &mut Vec<String>) {
        match tree {
            UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(&p.tree, prefix);
                prefix.pop();
            }
            UseTree::Name(n) => self.use_leaf(prefix, &n.ident),
            UseTree::Rename(r) => self.use_leaf(prefix, &r.ident),
            UseTree::Glob(g) => {
                let line = g.star_token.span.start().line;
                self.reference(prefix, line);
            }
            UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(t, prefix);
                }
            }
        }
    }

    fn use_leaf(&mut self, prefix: &[String], ident: &syn::Ident) {
        let mut path = prefix.to_vec();
        path.push(ident.to_string());
        self.reference(&path, ident.span().start().line);
    }

    /// References inside macro arguments (`format!("{}", crate::a::f())`), which `syn` leaves
    /// as tokens: every `crate`/`super`/`self` followed by `::name`s.
    fn macro_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            if let TokenTree::Group(g) = &tokens[i] {
                if g.delimiter() != Delimiter::None || !g.stream().is_empty() {
                    self.macro_tokens(g.stream());
                }
            }
            if let TokenTree::Ident(id) = &tokens[i] {
                let first = id.to_string();
                if matches!(first.as_str(), "crate" | "super" | "self") {
                    let (segments, next) = path_tokens(&tokens, i);
                    self.reference(&segments, id.span().start().line);
                    i = next;
                    continue;
                }
            }
            i += 1;
        }
    }
}

/// The `a::b::c` path starting at `tokens[start]`, and the index after it.
fn path_tokens(tokens: &[TokenTree], start: usize) -> (Vec<String>, usize) {
    let mut segments = vec![tokens[start].to_string()];
    let mut i = start + 1;
    while let (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(id))) =
        (tokens.get(i), tokens.get(i + 1), tokens.get(i + 2))
    {
        if a.as_char() != ':' || a.spacing() != Spacing::Joint || b.as_char() != ':' {
            break;
        }
        segments.push(id.to_string());
        i += 3;
    }
    (segments, i)
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item(&mut self, item: &'ast Item) {
        if !is_test_code(item_attrs(item)) {
            visit::visit_item(self, item);
        }
    }

    fn visit_impl_item(&mut self, item: &'ast ImplItem) {
        if !is_test_code(impl_item_attrs(item)) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_trait_item(&mut self, item: &'ast TraitItem) {
        if !is_test_code(trait_item_attrs(item)) {
            visit::visit_trait_item(self, item);
        }
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        // A `mod x;` is read from its own file; only inline modules are walked here.
        if m.content.is_some() {
            self.module.push(m.ident.to_string());
            self.sources.modules.insert(self.module.clone());
            visit::visit_item_mod(self, m);
            self.module.pop();
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        let outer = self.impl_type.take();
        self.function(&f.sig.ident, &f.sig.fn_token, &f.block);
        visit::visit_item_fn(self, f);
        self.impl_type = outer;
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        let ty = &i.self_ty;
        let name = quote_type(ty);
        let outer = self.impl_type.replace(name);
        visit::visit_item_impl(self, i);
        self.impl_type = outer;
    }

    fn visit_item_trait(&mut self, t: &'ast syn::ItemTrait) {
        let outer = self.impl_type.replace(t.ident.to_string());
        visit::visit_item_trait(self, t);
        self.impl_type = outer;
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.function(&f.sig.ident, &f.sig.fn_token, &f.block);
        visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.function(&f.sig.ident, &f.sig.fn_token, block);
        }
        visit::visit_trait_item_fn(self, f);
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&u.tree, &mut Vec::new());
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if let Some(first) = p.segments.first() {
            self.reference(&segments, first.ident.span().start().line);
        }
        visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.macro_tokens(m.tokens.clone());
        visit::visit_macro(self, m);
    }

    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {
        // `pub(in crate::a)` says who may see an item; it names nothing the code uses.
    }

    fn visit_attribute(&mut self, _: &'ast Attribute) {}
}

/// A readable name for an `impl` block's type: `Store`, `Vec<T>`.
fn quote_type(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default(),
        syn::Type::Reference(r) => quote_type(&r.elem),
        _ => "_".to_string(),
    }
}

/// The crate targets of the workspace whose code the shape rules cover (libraries, binaries,
/// build scripts; not tests, benches or examples), from `cargo metadata` (`v`).
pub fn workspace_targets(root: &Path, v: &serde_json::Value) -> Vec<Target> {
    let relative = |p: &str| {
        Path::new(p)
            .strip_prefix(root)
            .unwrap_or(Path::new(p))
            .to_path_buf()
    };
    let mut targets = Vec::new();
    for package in v["packages"].as_array().expect("packages") {
        let manifest = relative(package["manifest_path"].as_str().expect("manifest_path"));
        let crate_dir = manifest.parent().unwrap_or(Path::new("")).to_path_buf();
        for t in package["targets"].as_array().expect("targets") {
            let kinds: Vec<&str> = t["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str())
                .collect();
            if !kinds
                .iter()
                .any(|k| matches!(*k, "lib" | "rlib" | "bin" | "custom-build"))
            {
                continue;
            }
            let name = t["name"].as_str().expect("target name").replace('-', "_");
            targets.push(Target {
                crate_dir: crate_dir.clone(),
                root: relative(t["src_path"].as_str().expect("src_path")),
                name,
            });
        }
    }
    targets
}

/// Inline sources for the checks' own tests: `[("a/src/lib.rs", "mod x;"), …]`, the first file
/// the root of crate `a`.
pub fn from_snippets(files: &[(&str, &str)]) -> Sources {
    let root = PathBuf::from(files[0].0);
    let files: BTreeMap<PathBuf, String> = files
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect();
    let crate_dir: PathBuf = root.components().take(1).collect();
    let target = Target {
        name: crate_dir.to_string_lossy().into_owned(),
        crate_dir,
        root,
    };
    Sources::read(&[target], &|p: &Path| files.get(p).cloned())
}
