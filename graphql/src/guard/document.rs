//! Pass 2: what the parsed document amounts to with its fragments expanded, computed once per
//! fragment without expanding.

use std::collections::HashMap;

use async_graphql::parser::types::{
    Directive, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Pos, Positioned, ServerError};
use async_graphql_value::{ConstValue, Value};

use super::limits::{invalid, limit_error, list_error, RequestLimits};

/// What one selection set amounts to once its fragment spreads are expanded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Size {
    selections: u64,
    aliases: u64,
    directives: u64,
    /// Field depth (as async-graphql's `limit_depth` counts it).
    depth: u64,
    /// Nested selection sets, spreads and inline fragments counting one each (as
    /// async-graphql's `limit_recursive_depth` counts it).
    nesting: u64,
}

impl Size {
    fn add(&mut self, o: &Size) {
        self.selections = self.selections.saturating_add(o.selections);
        self.aliases = self.aliases.saturating_add(o.aliases);
        self.directives = self.directives.saturating_add(o.directives);
    }
}

/// A fragment being walked: its name, its direct spreads, how many of them are handled.
type Frame<'a> = (&'a str, Vec<(&'a str, Pos)>, usize);

struct DocCheck<'a> {
    doc: &'a ExecutableDocument,
    limits: &'a RequestLimits,
    /// Expanded size of each fragment, filled in dependency order.
    fragments: HashMap<&'a str, Size>,
}

impl<'a> DocCheck<'a> {
    /// Expanded size of a selection set whose spreads' fragments are all in `self.fragments`
    /// (or unknown, which validation reports). Recursion here follows the nesting of one
    /// definition's text, bounded by [`scan_text`].
    fn selection_set(&self, ss: &'a Positioned<SelectionSet>) -> Result<Size, ServerError> {
        let mut total = Size::default();
        let mut deepest = 0u64;
        let mut nested = 0u64;
        for item in &ss.node.items {
            match &item.node {
                Selection::Field(f) => {
                    total.selections = total.selections.saturating_add(1);
                    if f.node.alias.is_some() {
                        total.aliases = total.aliases.saturating_add(1);
                    }
                    total.directives = total
                        .directives
                        .saturating_add(f.node.directives.len() as u64);
                    for (_, v) in &f.node.arguments {
                        self.value(&v.node, v.pos)?;
                    }
                    self.directives(&f.node.directives)?;
                    let sub = if f.node.selection_set.node.items.is_empty() {
                        Size::default()
                    } else {
                        self.selection_set(&f.node.selection_set)?
                    };
                    total.add(&sub);
                    deepest = deepest.max(sub.depth.saturating_add(1));
                    nested = nested.max(sub.nesting);
                }
                Selection::InlineFragment(f) => {
                    total.selections = total.selections.saturating_add(1);
                    total.directives = total
                        .directives
                        .saturating_add(f.node.directives.len() as u64);
                    self.directives(&f.node.directives)?;
                    let sub = self.selection_set(&f.node.selection_set)?;
                    total.add(&sub);
                    deepest = deepest.max(sub.depth);
                    nested = nested.max(sub.nesting);
                }
                Selection::FragmentSpread(s) => {
                    total.selections = total.selections.saturating_add(1);
                    total.directives = total
                        .directives
                        .saturating_add(s.node.directives.len() as u64);
                    self.directives(&s.node.directives)?;
                    if let Some(sub) = self.fragments.get(s.node.fragment_name.node.as_str()) {
                        total.add(sub);
                        deepest = deepest.max(sub.depth);
                        nested = nested.max(sub.nesting.saturating_add(1));
                    }
                }
            }
        }
        total.depth = deepest;
        total.nesting = nested.saturating_add(1);
        Ok(total)
    }

    fn directives(&self, ds: &'a [Positioned<Directive>]) -> Result<(), ServerError> {
        for d in ds {
            for (_, v) in &d.node.arguments {
                self.value(&v.node, v.pos)?;
            }
        }
        Ok(())
    }

    /// List sizes of a literal value (its depth is bounded by [`scan_text`]).
    fn value(&self, v: &Value, pos: Pos) -> Result<(), ServerError> {
        match v {
            Value::List(items) => {
                if items.len() > self.limits.max_list_items {
                    return Err(list_error(items.len(), self.limits, Some(pos)));
                }
                items.iter().try_for_each(|i| self.value(i, pos))
            }
            Value::Object(fields) => fields.values().try_for_each(|i| self.value(i, pos)),
            _ => Ok(()),
        }
    }

    fn const_value(&self, v: &ConstValue, pos: Pos) -> Result<(), ServerError> {
        match v {
            ConstValue::List(items) => {
                if items.len() > self.limits.max_list_items {
                    return Err(list_error(items.len(), self.limits, Some(pos)));
                }
                items.iter().try_for_each(|i| self.const_value(i, pos))
            }
            ConstValue::Object(fields) => {
                fields.values().try_for_each(|i| self.const_value(i, pos))
            }
            _ => Ok(()),
        }
    }

    /// Fill `self.fragments` in dependency order (an explicit-stack depth-first walk of the
    /// spread graph); a cycle is refused here, before anything expands it.
    fn fragments(&mut self) -> Result<(), ServerError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Open,
            Done,
        }
        let doc = self.doc;
        let mut marks: HashMap<&'a str, Mark> = HashMap::new();
        for root in doc.fragments.keys() {
            if marks.contains_key(root.as_str()) {
                continue;
            }
            let mut stack: Vec<Frame<'a>> = Vec::new();
            marks.insert(root.as_str(), Mark::Open);
            stack.push((
                root.as_str(),
                spreads_of(&doc.fragments[root].node.selection_set),
                0,
            ));
            while let Some((name, spreads, next)) = stack.last_mut() {
                if let Some(&(child, pos)) = spreads.get(*next) {
                    *next += 1;
                    match marks.get(child) {
                        Some(Mark::Done) => {}
                        Some(Mark::Open) => {
                            return Err(invalid(format!("fragment `{child}` spreads itself (directly or through other fragments)"), Some(pos)))
                        }
                        None => {
                            if let Some((key, def)) = doc.fragments.get_key_value(child) {
                                marks.insert(key.as_str(), Mark::Open);
                                stack.push((key.as_str(), spreads_of(&def.node.selection_set), 0));
                            }
                        }
                    }
                    continue;
                }
                let name = *name;
                let size = self.selection_set(&doc.fragments[name].node.selection_set)?;
                self.fragments.insert(name, size);
                marks.insert(name, Mark::Done);
                stack.pop();
            }
        }
        Ok(())
    }
}

/// The fragment spreads directly in a selection set (not through other fragments).
fn spreads_of(ss: &Positioned<SelectionSet>) -> Vec<(&str, Pos)> {
    let mut out = Vec::new();
    let mut todo = vec![ss];
    while let Some(ss) = todo.pop() {
        for item in &ss.node.items {
            match &item.node {
                Selection::Field(f) => todo.push(&f.node.selection_set),
                Selection::InlineFragment(f) => todo.push(&f.node.selection_set),
                Selection::FragmentSpread(s) => {
                    out.push((s.node.fragment_name.node.as_str(), s.pos))
                }
            }
        }
    }
    out
}

/// Pass 2: the parsed document, fragments counted at every spread without being expanded.
pub fn check_document(doc: &ExecutableDocument, limits: &RequestLimits) -> Result<(), ServerError> {
    let mut c = DocCheck {
        doc,
        limits,
        fragments: HashMap::new(),
    };
    c.fragments()?;
    // What validation visits: every fragment definition and every operation, spreads
    // expanded where the validator's inline visitors expand them.
    let mut total = c.fragment_definitions()?;
    for (_, op) in doc.operations.iter() {
        total.add(&c.operation(&op.node)?);
    }
    check_totals(&total, limits)
}

impl<'a> DocCheck<'a> {
    /// Every fragment definition on its own: its depth (the depth visitor measures
    /// definitions too), its directives; their expanded sizes summed.
    fn fragment_definitions(&self) -> Result<Size, ServerError> {
        let limits = self.limits;
        let mut total = Size::default();
        for (name, size) in &self.fragments {
            if size.depth > limits.max_query_depth as u64 {
                return Err(limit_error(
                    "max_query_depth",
                    format!(
                        "fragment `{name}` nests fields {} levels deep, more than the maximum of {}",
                        size.depth, limits.max_query_depth
                    ),
                    None,
                ));
            }
            total.add(size);
        }
        for f in self.doc.fragments.values() {
            self.directives(&f.node.directives)?;
            total.directives = total
                .directives
                .saturating_add(f.node.directives.len() as u64);
        }
        Ok(total)
    }

    /// One operation: its directives and variable defaults, then its selection set's depth
    /// and nesting; its expanded size (its own directives included).
    fn operation(&self, op: &'a OperationDefinition) -> Result<Size, ServerError> {
        let limits = self.limits;
        self.directives(&op.directives)?;
        for v in &op.variable_definitions {
            if let Some(d) = &v.node.default_value {
                self.const_value(&d.node, d.pos)?;
            }
        }
        let mut size = self.selection_set(&op.selection_set)?;
        if size.depth > limits.max_query_depth as u64 {
            return Err(limit_error(
                "max_query_depth",
                format!(
                    "fields nest {} levels deep, more than the maximum of {}",
                    size.depth, limits.max_query_depth
                ),
                Some(op.selection_set.pos),
            ));
        }
        // async-graphql counts the operation's own selection set as level 0.
        if size.nesting.saturating_sub(1) > limits.max_nesting() as u64 {
            return Err(limit_error(
                "max_query_depth",
                format!(
                    "selection sets, inline fragments and fragment spreads nest {} levels deep, more than the maximum of {} (2 × max_query_depth + 2)",
                    size.nesting - 1,
                    limits.max_nesting()
                ),
                Some(op.selection_set.pos),
            ));
        }
        size.directives = size.directives.saturating_add(op.directives.len() as u64);
        Ok(size)
    }
}

/// The document's expanded selections, aliases and directives against their limits.
fn check_totals(total: &Size, limits: &RequestLimits) -> Result<(), ServerError> {
    if total.selections > limits.max_selections as u64 {
        return Err(limit_error(
            "max_selections",
            format!(
                "the document amounts to {} selections with its fragments expanded, more than the maximum of {}",
                total.selections, limits.max_selections
            ),
            None,
        ));
    }
    if total.aliases > limits.max_aliases as u64 {
        return Err(limit_error(
            "max_aliases",
            format!("the document has {} aliased fields with its fragments expanded, more than the maximum of {}", total.aliases, limits.max_aliases),
            None,
        ));
    }
    if total.directives > limits.max_directives as u64 {
        return Err(limit_error(
            "max_directives",
            format!("the document has {} directives with its fragments expanded, more than the maximum of {}", total.directives, limits.max_directives),
            None,
        ));
    }
    Ok(())
}
