//! Where GraphQL work runs, and for how long.
//!
//! actix-web serves each connection on one of a few single-threaded workers; CPU-bound work
//! there stalls every other connection of that worker, health checks included. So GraphQL
//! parsing, validation and execution run on a separate multi-threaded runtime (`cmdb-graphql`
//! threads), and the actix handler only waits for the answer — at most the request's time
//! budget. Past the budget the handler answers `LIMIT_EXCEEDED` and the task is aborted: an
//! async task stops at its next `.await`, and the synchronous stretches in between are bounded
//! by the request limits (`cmdb_graphql::guard`). A client that goes away aborts its task too.
//! At shutdown the runtime is dropped without waiting, so no request outlives the server's
//! shutdown timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_graphql::parser::types::OperationType;
use async_graphql::{Data, Request, Response, ServerError};
use cmdb_graphql::Api;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

/// Why a budgeted task gave no answer.
#[derive(Debug)]
pub enum Overrun {
    /// It ran past the budget and was cancelled.
    TimedOut(Duration),
    /// It panicked (a bug; logged).
    Panicked,
}

impl Overrun {
    pub fn message(&self) -> String {
        match self {
            Overrun::TimedOut(b) => format!(
                "the request exceeded its time budget of {} ms and was cancelled ([limits] request_timeout_ms)",
                b.as_millis()
            ),
            Overrun::Panicked => "internal error (see the server log)".into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Overrun::TimedOut(_) => cmdb_graphql::error::LIMIT_EXCEEDED,
            Overrun::Panicked => cmdb_graphql::error::INTERNAL,
        }
    }

    /// As a GraphQL response.
    pub fn response(&self) -> Response {
        let mut e = ServerError::new(self.message(), None);
        let ext = e.extensions.get_or_insert_with(Default::default);
        ext.set("code", self.code());
        if let Overrun::TimedOut(_) = self {
            ext.set("limit", "request_timeout_ms");
        }
        Response::from_errors(vec![e])
    }
}

/// The runtime GraphQL work runs on, and the budget of one request.
#[derive(Clone)]
pub struct Budget {
    handle: tokio::runtime::Handle,
    pub limit: Duration,
}

/// Aborts a task when dropped (the handler's future was dropped: the client went away, or the
/// budget ran out).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Build the GraphQL runtime: `threads` worker threads (0 = one per CPU, at least 2) with a
/// generous stack.
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let threads = if threads > 0 {
        threads
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2)
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("cmdb-graphql")
        .thread_stack_size(8 << 20)
        .enable_all()
        .build()
}

impl Budget {
    pub fn new(handle: tokio::runtime::Handle, limit: Duration) -> Budget {
        Budget { handle, limit }
    }

    /// Run `fut` on the GraphQL runtime; its result, or why there is none, within the budget.
    pub async fn run<F, T>(&self, fut: F) -> Result<T, Overrun>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let task = self.handle.spawn(fut);
        let _abort = AbortOnDrop(task.abort_handle());
        match tokio::time::timeout(self.limit, task).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "a GraphQL task failed");
                Err(Overrun::Panicked)
            }
            Err(_) => {
                tracing::warn!(
                    budget_ms = self.limit.as_millis() as u64,
                    "request cancelled: time budget exceeded"
                );
                Err(Overrun::TimedOut(self.limit))
            }
        }
    }
}

/// The operation `req` selects (after [`Api::check_request`] parsed it), if it can be told.
pub fn operation_type(req: &mut Request) -> Option<OperationType> {
    use async_graphql::parser::types::DocumentOperations;
    let name = req.operation_name.clone();
    let doc = req.parsed_query().ok()?;
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get(name.as_str()).map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        _ => None,
    }
}

/// When the token a WebSocket connection authenticated with expires (session data).
#[derive(Debug, Clone, Copy)]
pub struct SessionExpiry(pub chrono::DateTime<chrono::Utc>);

/// A WebSocket connection's data: the caller's role (and fresh DataLoaders) and, when the
/// token expires, when.
pub fn session_data(api: &Api, caller: &super::Caller) -> Data {
    let mut d = api.request_data(caller.role);
    if let Some(at) = caller.expires_at {
        d.insert(SessionExpiry(at));
    }
    d
}

fn expiry_of(data: Option<&Data>) -> Option<chrono::DateTime<chrono::Utc>> {
    data?
        .get(&std::any::TypeId::of::<SessionExpiry>())?
        .downcast_ref::<SessionExpiry>()
        .map(|e| e.0)
}

/// Resolves when `at` has passed (in steps of at most a day: far-off times stay exact).
async fn passed(at: chrono::DateTime<chrono::Utc>) {
    loop {
        match (at - chrono::Utc::now()).to_std() {
            Ok(left) if !left.is_zero() => {
                tokio::time::sleep(left.min(Duration::from_secs(86_400))).await
            }
            _ => return,
        }
    }
}

fn expired(at: chrono::DateTime<chrono::Utc>) -> Response {
    Response::from_errors(vec![super::AuthError::Expired { at }.graphql_error()])
}

/// The executor the WebSocket endpoint runs operations with (one per connection): each
/// operation on the GraphQL runtime; queries and mutations within the budget; at most
/// `max_operations` at once. Once the connection's token has expired, every operation is
/// answered `TOKEN_EXPIRED`, and a running subscription gets that error and completes.
#[derive(Clone)]
pub struct WsExecutor {
    pub api: Api,
    pub budget: Budget,
    pub max_operations: usize,
    pub active: Arc<AtomicUsize>,
}

/// Counts an operation as active while alive.
struct Active(Arc<AtomicUsize>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A stream that holds the task producing it (aborted when the stream is dropped) and the
/// operation's slot.
struct Forward {
    rx: tokio::sync::mpsc::Receiver<Response>,
    _task: AbortOnDrop,
    _slot: Active,
}

impl Stream for Forward {
    type Item = Response;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Response>> {
        self.rx.poll_recv(cx)
    }
}

fn one(resp: Response) -> BoxStream<'static, Response> {
    futures::stream::once(async move { resp }).boxed()
}

impl async_graphql::Executor for WsExecutor {
    async fn execute(&self, request: Request) -> Response {
        let api = self.api.clone();
        self.budget
            .run(async move { api.schema.execute(request).await })
            .await
            .unwrap_or_else(|o| o.response())
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let expires_at = expiry_of(session_data.as_deref());
        if let Some(at) = expires_at.filter(|at| chrono::Utc::now() >= *at) {
            return one(expired(at));
        }
        if self.active.fetch_add(1, Ordering::SeqCst) >= self.max_operations {
            self.active.fetch_sub(1, Ordering::SeqCst);
            let mut e = ServerError::new(
                format!("more than {} operations at once on one connection ([limits] max_ws_operations)", self.max_operations),
                None,
            );
            let ext = e.extensions.get_or_insert_with(Default::default);
            ext.set("code", cmdb_graphql::error::LIMIT_EXCEEDED);
            ext.set("limit", "max_ws_operations");
            return one(Response::from_errors(vec![e]));
        }
        let slot = Active(self.active.clone());
        let (tx, rx) = tokio::sync::mpsc::channel::<Response>(16);
        let api = self.api.clone();
        let budget = self.budget.limit;
        let task = self.budget.handle.spawn(async move {
            // The limits first (the schema checks again; cheap), to tell a subscription, which
            // may run for hours, from a query or mutation, which has a budget.
            if let Err(e) = api.check_request(&mut request) {
                let mut resp = Response::from_errors(vec![e]);
                cmdb_graphql::error::ensure_codes(&mut resp);
                let _ = tx.send(resp).await;
                return;
            }
            let subscription = operation_type(&mut request) == Some(OperationType::Subscription);
            let mut stream = api
                .schema
                .execute_stream_with_session_data(request, session_data.unwrap_or_default());
            if !subscription {
                let resp = match tokio::time::timeout(budget, stream.next()).await {
                    Ok(Some(r)) => r,
                    Ok(None) => return,
                    Err(_) => Overrun::TimedOut(budget).response(),
                };
                let _ = tx.send(resp).await;
                return;
            }
            let expiry = async move {
                match expires_at {
                    Some(at) => {
                        passed(at).await;
                        at
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(expiry);
            loop {
                tokio::select! {
                    item = stream.next() => match item {
                        Some(r) => if tx.send(r).await.is_err() { return },
                        None => return,
                    },
                    at = &mut expiry => {
                        tracing::info!(expired_at = %at, "subscription ended: its token expired");
                        let _ = tx.send(expired(at)).await;
                        return;
                    }
                    _ = tx.closed() => return,
                }
            }
        });
        Forward {
            rx,
            _task: AbortOnDrop(task.abort_handle()),
            _slot: slot,
        }
        .boxed()
    }
}
