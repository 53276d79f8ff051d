//! Pass 1: the query text's size and bracket nesting, before the (recursive) parser runs.

use async_graphql::{Pos, ServerError};

use super::limits::{limit_error, RequestLimits};

/// Line and column of byte offset `at` in `text` (1-based, columns in characters).
fn pos_of(text: &str, at: usize) -> Pos {
    let before = &text[..at.min(text.len())];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    Pos { line, column }
}

/// Pass 1: the query text's size and bracket nesting. Linear, no recursion, no allocation
/// beyond the bracket stack (itself bounded by the limits).
pub fn scan_text(query: &str, limits: &RequestLimits) -> Result<(), ServerError> {
    check_size(query, limits)?;
    let b = query.as_bytes();
    let mut nesting = Nesting::new(query, limits);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => i = skip_comment(b, i),
            b'"' if b[i..].starts_with(b"\"\"\"") => i = skip_block_string(b, i),
            b'"' => i = skip_string(b, i),
            c @ (b'{' | b'[' | b'(') => {
                nesting.open(c, i)?;
                i += 1;
            }
            b'}' | b']' | b')' => {
                nesting.close();
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// The text is no longer than `max_query_bytes`.
fn check_size(query: &str, limits: &RequestLimits) -> Result<(), ServerError> {
    if query.len() > limits.max_query_bytes {
        return Err(limit_error(
            "max_query_bytes",
            format!(
                "the query is {} bytes, more than the maximum of {}",
                query.len(),
                limits.max_query_bytes
            ),
            None,
        ));
    }
    Ok(())
}

/// From a `#` to the end of its line (the line break itself is left to the caller).
fn skip_comment(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
        i += 1;
    }
    i
}

/// Past a block string: it ends at an unescaped `"""`.
fn skip_block_string(b: &[u8], mut i: usize) -> usize {
    i += 3;
    while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
        i += if b[i..].starts_with(b"\\\"\"\"") {
            4
        } else {
            1
        };
    }
    i + 3
}

/// Past a string: it ends at an unescaped `"` or at the end of the line (a syntax error the
/// parser reports).
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() && b[i] != b'"' && b[i] != b'\n' && b[i] != b'\r' {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

/// What an open bracket opened.
#[derive(Clone, Copy, PartialEq)]
enum Open {
    Selection,
    Object,
    List,
    Paren,
}

/// The brackets open so far, and how deep selection sets and values nest among them.
struct Nesting<'a> {
    query: &'a str,
    limits: &'a RequestLimits,
    max_nesting: usize,
    stack: Vec<Open>,
    selections: usize,
    values: usize,
}

impl<'a> Nesting<'a> {
    fn new(query: &'a str, limits: &'a RequestLimits) -> Self {
        Nesting {
            query,
            limits,
            max_nesting: limits.max_nesting(),
            stack: Vec::new(),
            selections: 0,
            values: 0,
        }
    }

    /// Bracket `c` at byte `at` opens a selection set, an object or list value, or arguments
    /// (a `{` inside a value is an object); refused when its kind nests too deep.
    fn open(&mut self, c: u8, at: usize) -> Result<(), ServerError> {
        let in_value = matches!(
            self.stack.last(),
            Some(Open::Object | Open::List | Open::Paren)
        );
        let open = match c {
            b'{' if in_value => Open::Object,
            b'{' => Open::Selection,
            b'[' => Open::List,
            _ => Open::Paren,
        };
        match open {
            Open::Selection => self.open_selection(at)?,
            Open::Object | Open::List => self.open_value(at)?,
            Open::Paren => {}
        }
        // Whatever the kinds, the parser never nests deeper than the brackets open here; both
        // counters are bounded, so is it.
        self.stack.push(open);
        Ok(())
    }

    fn open_selection(&mut self, at: usize) -> Result<(), ServerError> {
        self.selections += 1;
        if self.selections > self.max_nesting {
            return Err(limit_error(
                "max_query_depth",
                format!(
                    "selection sets nest more than {} levels deep (2 × max_query_depth {} + 2)",
                    self.max_nesting, self.limits.max_query_depth
                ),
                Some(pos_of(self.query, at)),
            ));
        }
        Ok(())
    }

    fn open_value(&mut self, at: usize) -> Result<(), ServerError> {
        self.values += 1;
        if self.values > self.limits.max_value_depth {
            return Err(limit_error(
                "max_value_depth",
                format!(
                    "values (lists, input objects, list types) nest more than {} levels deep",
                    self.limits.max_value_depth
                ),
                Some(pos_of(self.query, at)),
            ));
        }
        Ok(())
    }

    /// A closing bracket closes whatever was opened last (a stray one closes nothing).
    fn close(&mut self) {
        match self.stack.pop() {
            Some(Open::Selection) => self.selections -= 1,
            Some(Open::Object | Open::List) => self.values -= 1,
            Some(Open::Paren) | None => {}
        }
    }
}
