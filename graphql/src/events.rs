//! In-process event bus behind the subscriptions. Publishers never block: slow subscribers
//! lose the oldest events (and are told how many via `lagged`).

use tokio::sync::broadcast;

/// A CI changed through the API (or, later, through discovery).
#[derive(Debug, Clone, async_graphql::SimpleObject)]
#[graphql(name = "CIChange")]
pub struct CiChange {
    pub id: async_graphql::ID,
    pub kind: CiChangeKind,
    pub source: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// What a `discoveryProgress` event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum DiscoveryPhase {
    /// The run expanded its targets (`targetsTotal` is known).
    Started,
    /// A (target, probe) pair started (`status` RUNNING).
    TargetStarted,
    /// A (target, probe) pair ended (`status` OK, FAILED or SKIPPED; `message` says how).
    TargetDone,
    /// The run's probes are done (`message`: how many pairs were ok and failed).
    Finished,
}

/// Progress of one discovery run (published by the run machinery).
#[derive(Debug, Clone, async_graphql::SimpleObject)]
pub struct DiscoveryProgress {
    pub run_id: async_graphql::ID,
    pub phase: DiscoveryPhase,
    pub targets_done: u32,
    pub targets_total: u32,
    pub message: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
    /// TARGET_STARTED and TARGET_DONE: the target, as in `DiscoveryRun.targets`.
    pub target: Option<String>,
    /// TARGET_STARTED and TARGET_DONE: the probe.
    pub probe: Option<String>,
    /// TARGET_STARTED: RUNNING; TARGET_DONE: OK, FAILED or SKIPPED.
    pub status: Option<crate::discovery::TargetStatus>,
}

#[derive(Debug, Clone)]
pub enum Event {
    CiChanged(CiChange),
    Discovery(DiscoveryProgress),
}

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(1024)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus { tx }
    }
    pub fn publish_ci_change(&self, c: CiChange) {
        let _ = self.tx.send(Event::CiChanged(c));
    }
    pub fn publish_progress(&self, p: DiscoveryProgress) {
        let _ = self.tx.send(Event::Discovery(p));
    }
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

/// What happened to a CI that `ciChanged` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "CIChangeKind")]
pub enum CiChangeKind {
    /// Created or changed (`upsertCi`, a business service defined or updated, `setRedundancy`).
    Upserted,
    /// Retired by hand.
    Retired,
    /// Deleted (a business service).
    Deleted,
    /// A relationship from or to it was asserted.
    RelationshipUpserted,
    /// A relationship from it was closed by hand.
    RelationshipClosed,
}
