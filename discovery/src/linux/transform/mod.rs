//! Collected sections → one [`Observation`], following `docs/observations.md`. Pure: no I/O,
//! never fails; anything odd becomes a [`Diagnostic`].
//!
//! [`transform`] runs the steps in order, each in its own part: `sections` (what the
//! collection says about itself), `device` (identity and hardware), `interfaces` (links and
//! addresses), `sockets` (listeners and connections, with `processes` owning them) and
//! `software` (packages and containers).

mod device;
mod interfaces;
mod processes;
mod sections;
mod sockets;
mod software;

use std::net::IpAddr;

use cmdb_model::{Observation, RunId, Scope, Source};

use super::script::Sections;
use crate::Diagnostic;

pub use crate::records::DEVICE_KEY;

/// Who is transforming what.
#[derive(Debug, Clone)]
pub struct TransformContext<'a> {
    /// `Target::name()`: goes into the scope and diagnostics.
    pub target: &'a str,
    /// `ssh` or `local`: the observation's source and the diagnostics' probe.
    pub source: &'a str,
    pub run_id: &'a RunId,
    /// The address the probe connected to, recorded as `management_ip` when it is an IP.
    pub management_ip: Option<IpAddr>,
}

/// The result of [`transform`].
#[derive(Debug, Clone)]
pub struct Transformed {
    pub observation: Observation,
    pub diagnostics: Vec<Diagnostic>,
}

/// The diagnostics of one transform.
struct Diags<'a> {
    ctx: &'a TransformContext<'a>,
    list: Vec<Diagnostic>,
}

impl Diags<'_> {
    fn push(&mut self, code: &str, msg: impl Into<String>) {
        self.list
            .push(Diagnostic::new(self.ctx.target, self.ctx.source, code, msg));
    }
    /// A parser's count of lines it could not read, when there are any.
    fn unparsable(&mut self, what: &str, bad: usize) {
        if bad > 0 {
            self.push(
                "linux.parse_error",
                format!("{what}: {bad} unparsable lines"),
            );
        }
    }
}

/// Turn collected sections into an observation.
pub fn transform(sections: &Sections, ctx: &TransformContext<'_>) -> Transformed {
    let mut diags = Diags {
        ctx,
        list: Vec::new(),
    };
    let complete = sections::report(sections, &mut diags);
    let mut obs = Observation::new(
        Source::new(ctx.source),
        ctx.run_id.clone(),
        Scope {
            targets: [ctx.target.to_string()].into_iter().collect(),
            complete: false,
        },
    );
    let dev = device::device(sections, ctx.management_ip, &mut diags);
    let nics = interfaces::read(sections, &mut diags);
    let dev = interfaces::identify_device(dev, &nics, &mut diags);
    obs.push(dev);
    obs.records.extend(nics.records);
    obs.relationships = nics.relationships;
    sockets::sockets(sections, &nics.own_ips, &mut obs, &mut diags);
    software::packages(sections, &mut obs, &mut diags);
    software::containers(sections, &mut obs, &mut diags);
    obs.scope.complete = complete;
    Transformed {
        observation: obs,
        diagnostics: diags.list,
    }
}

#[cfg(test)]
mod tests;
