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
    #[derive(Clone, Copy, PartialEq)]
    enum Open {
        Selection,
        Object,
        List,
        Paren,
    }
    let max_nesting = limits.max_nesting();
    let b = query.as_bytes();
    let mut stack: Vec<Open> = Vec::new();
    let (mut selections, mut values) = (0usize, 0usize);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                // Block string: ends at an unescaped `"""`.
                i += 3;
                while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                    i += if b[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
                continue;
            }
            b'"' => {
                // String: ends at an unescaped `"` or at the end of the line (a syntax error
                // the parser reports).
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' && b[i] != b'\r' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                continue;
            }
            c @ (b'{' | b'[' | b'(') => {
                let in_value =
                    matches!(stack.last(), Some(Open::Object | Open::List | Open::Paren));
                let open = match c {
                    b'{' if in_value => Open::Object,
                    b'{' => Open::Selection,
                    b'[' => Open::List,
                    _ => Open::Paren,
                };
                match open {
                    Open::Selection => {
                        selections += 1;
                        if selections > max_nesting {
                            return Err(limit_error(
                                "max_query_depth",
                                format!(
                                    "selection sets nest more than {max_nesting} levels deep (2 × max_query_depth {} + 2)",
                                    limits.max_query_depth
                                ),
                                Some(pos_of(query, i)),
                            ));
                        }
                    }
                    Open::Object | Open::List => {
                        values += 1;
                        if values > limits.max_value_depth {
                            return Err(limit_error(
                                "max_value_depth",
                                format!("values (lists, input objects, list types) nest more than {} levels deep", limits.max_value_depth),
                                Some(pos_of(query, i)),
                            ));
                        }
                    }
                    Open::Paren => {}
                }
                // Whatever the kinds, the parser never nests deeper than the brackets open
                // here; both counters are bounded, so is it.
                stack.push(open);
            }
            b'}' | b']' | b')' => match stack.pop() {
                Some(Open::Selection) => selections -= 1,
                Some(Open::Object | Open::List) => values -= 1,
                Some(Open::Paren) | None => {}
            },
            _ => {}
        }
        i += 1;
    }
    Ok(())
}
