//! Events in, incidents out: the rules, with no I/O (docs/alerts.md).
//!
//! - [`event`]: the generic event integrations send (`POST /api/v1/events`, `ingestEvent`), its
//!   severity scale and its message key.
//! - [`alertmanager`]: Prometheus Alertmanager's webhook payload (version 4), as Alertmanager
//!   sends it, turned into events.
//! - [`alert`]: events with one message key are one alert; how an event changes it.
//! - [`reference`]: what an event says about its CI (`node`, `resource`, `instance`) as the
//!   identifiers reconciliation uses, for binding.
//! - [`status`]: which operational state an open alert puts its CI in.
//! - [`priority`]: the ITIL impact × urgency matrix.
//! - [`figures`]: availability, MTTR, MTBF and the SLA from a status timeline.
//!
//! Invariant: nothing here reads a clock, a file or the network; callers pass the time in.

// A library reports through its return values and `tracing`, never on the terminal.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod alert;
pub mod alertmanager;
pub mod event;
pub mod figures;
pub mod incident;
pub mod priority;
pub mod reference;
pub mod status;

pub use alert::{Alert, AlertChange, AlertState};
pub use event::{Event, EventError, EventInput, EventSeverity};
pub use incident::{Incident, IncidentChange, IncidentChangeKind, IncidentState, ServiceState};
pub use status::{OperationalStatus, StateMapping};
