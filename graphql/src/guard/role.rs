//! Who may do what: the caller's role, the field guards that check it, and the `events` role's
//! only-`ingestEvent` rule.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection};
use async_graphql::{Context, Guard, ServerError, ServerResult};

use crate::error::{gql, ApiError, FORBIDDEN};

/// What a caller may do. Reader < Editor < Admin are ordered: a higher role can do everything
/// a lower one can. `Events` stands apart, below them all: it may only post events
/// (`ingestEvent`, `POST /api/v1/events`, the Alertmanager webhook) and read nothing — the
/// token a monitoring system holds ([`may_ingest`], [`EventsOnly`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Post events, nothing else.
    Events,
    /// Queries and subscriptions.
    Reader,
    /// Plus mutations.
    Editor,
    /// Everything.
    Admin,
}

/// A role name that is none of `events`, `reader`, `editor`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (events, reader, editor, admin)")]
pub struct UnknownRole(pub String);

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Events => "events",
            Role::Reader => "reader",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// The caller's role as the transport attached it (a reader when none was).
    fn of(ctx: &Context<'_>) -> Role {
        ctx.data_opt::<Role>().copied().unwrap_or(Role::Reader)
    }
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        match s {
            "events" => Ok(Role::Events),
            "reader" => Ok(Role::Reader),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownRole(s.to_string())),
        }
    }
}

/// Allows the field only to callers with at least `min` role.
pub struct RoleGuard {
    min: Role,
}

impl RoleGuard {
    pub fn new(min: Role) -> Self {
        RoleGuard { min }
    }
}

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let role = Role::of(ctx);
        if role >= self.min {
            Ok(())
        } else {
            Err(gql(ApiError::Forbidden(format!(
                "this operation needs the {} role; the caller is a {}",
                self.min.as_str(),
                role.as_str()
            ))))
        }
    }
}

/// Whether `role` may post events: the `events` role and editors and admins.
pub fn may_ingest(role: Role) -> bool {
    role == Role::Events || role >= Role::Editor
}

/// Allows the field (`ingestEvent`) to the roles that [`may_ingest`].
pub struct IngestGuard;

impl Guard for IngestGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let role = Role::of(ctx);
        if may_ingest(role) {
            Ok(())
        } else {
            Err(gql(ApiError::Forbidden(format!(
                "posting events needs the events, editor or admin role; the caller is a {}",
                role.as_str()
            ))))
        }
    }
}

/// The `events` role may run only mutations made of `ingestEvent` (and `__typename`): a
/// monitoring system's token posts events and reads nothing. Checked on the parsed document,
/// before validation and execution, for every transport.
pub struct EventsOnly;

impl ExtensionFactory for EventsOnly {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(EventsOnlyImpl)
    }
}

struct EventsOnlyImpl;

#[async_trait::async_trait]
impl Extension for EventsOnlyImpl {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &async_graphql::Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        if ctx.data_opt::<Role>() == Some(&Role::Events) && !only_ingest(&doc) {
            let mut e = ServerError::new(
                "the events role may only run the ingestEvent mutation",
                None,
            );
            e.extensions
                .get_or_insert_with(Default::default)
                .set("code", FORBIDDEN);
            return Err(e);
        }
        Ok(doc)
    }
}

fn only_ingest(doc: &ExecutableDocument) -> bool {
    doc.operations.iter().all(|(_, op)| {
        op.node.ty == OperationType::Mutation
            && op
                .node
                .selection_set
                .node
                .items
                .iter()
                .all(|s| match &s.node {
                    Selection::Field(f) => {
                        let n = f.node.name.node.as_str();
                        n == "ingestEvent" || n == "__typename"
                    }
                    _ => false,
                })
    })
}
