//! Relay paging shared by the connections: page info and offset cursors.

use async_graphql::SimpleObject;

/// Relay page info.
#[derive(SimpleObject, Debug, Clone, Default)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

impl PageInfo {
    pub fn from_cursors(cursors: &[String], has_next_page: bool, has_previous_page: bool) -> Self {
        PageInfo {
            has_next_page,
            has_previous_page,
            start_cursor: cursors.first().cloned(),
            end_cursor: cursors.last().cloned(),
        }
    }
}

pub(crate) fn encode_offset(i: usize) -> String {
    format!("o{i}")
}

pub(crate) fn decode_offset(c: &str) -> Option<usize> {
    c.strip_prefix('o')?.parse().ok()
}
