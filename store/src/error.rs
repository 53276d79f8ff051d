use thiserror::Error;

/// Errors at the store boundary. `code()` is stable and surfaces as GraphQL `extensions.code`.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("the store is closed")]
    Closed,
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("a conflicting write happened; retry: {0}")]
    Conflict(String),
    #[error("storage error: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound(_) => "NOT_FOUND",
            StoreError::InvalidInput(_) => "INVALID_INPUT",
            StoreError::Closed => "STORE_CLOSED",
            StoreError::Unavailable(_) => "STORE_UNAVAILABLE",
            StoreError::Conflict(_) => "CONFLICT",
            StoreError::Backend(_) => "STORE_ERROR",
            StoreError::Corrupt(_) => "STORE_CORRUPT",
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::DatabaseBusy
                    || f.code == rusqlite::ErrorCode::DatabaseLocked =>
            {
                StoreError::Conflict(e.to_string())
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

/// A stored name (class, type, status, change kind) this build does not know: the row was
/// written by something else, or damaged.
impl From<cmdb_model::UnknownName> for StoreError {
    fn from(e: cmdb_model::UnknownName) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl From<cmdb_model::ViewError> for StoreError {
    fn from(e: cmdb_model::ViewError) -> Self {
        StoreError::Backend(e.0)
    }
}
