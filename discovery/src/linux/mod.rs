//! Linux collection shared by the SSH and local probes: one script run through a
//! [`CommandTransport`](crate::transport::CommandTransport), pure parsers, and the transform to
//! an observation.

pub mod parse;
pub mod script;
pub mod transform;

use std::net::IpAddr;

use cmdb_model::RunId;

use crate::transport::{CommandTransport, ExecLimits};
use crate::{Diagnostic, ProbeError, ProbeOutput};
pub use script::{parse_sections, Section, Sections, COLLECT_SCRIPT};
pub use transform::{transform, TransformContext, Transformed, DEVICE_KEY};

/// Run the collection script through `transport` and transform what came back.
///
/// Errors only when nothing usable came back: a hung script with no output is
/// [`ProbeError::Timeout`], output without any section (garbage, a wrong shell) is
/// [`ProbeError::Protocol`]. A partial or truncated result is a `ProbeOutput` with
/// `scope.complete = false` and diagnostics.
pub fn collect_and_transform(
    transport: &mut dyn CommandTransport,
    limits: &ExecLimits,
    target: &str,
    run_id: &RunId,
    management_ip: Option<IpAddr>,
) -> Result<ProbeOutput, ProbeError> {
    let source = transport.kind();
    let out = transport
        .run(COLLECT_SCRIPT, limits)
        .map_err(|e| ProbeError::Protocol(format!("running the collection script: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let sections = parse_sections(&text);
    tracing::debug!(target_name = target, probe = source, run_id = %run_id, bytes = out.stdout.len(),
        sections = sections.sections.len(), timed_out = out.timed_out, truncated = out.truncated,
        elapsed_ms = out.elapsed.as_millis() as u64, "collection script finished");
    if sections.sections.is_empty() {
        if out.timed_out {
            return Err(ProbeError::Timeout(format!(
                "collection script gave no result within {:?}",
                limits.timeout
            )));
        }
        return Err(ProbeError::Protocol(format!(
            "output is not from the collection script ({} bytes{}{})",
            out.stdout.len(),
            if out.truncated {
                ", truncated at the output cap"
            } else {
                ""
            },
            match out.exit_status {
                Some(s) => format!(", exit status {s}"),
                None => String::new(),
            }
        )));
    }
    let ctx = TransformContext {
        target,
        source,
        run_id,
        management_ip,
    };
    let Transformed {
        mut observation,
        mut diagnostics,
    } = transform(&sections, &ctx);
    if out.timed_out {
        observation.scope.complete = false;
        diagnostics.push(Diagnostic::new(
            target,
            source,
            "linux.timeout",
            format!("collection stopped at the {:?} timeout", limits.timeout),
        ));
    }
    if out.truncated {
        observation.scope.complete = false;
        diagnostics.push(Diagnostic::new(
            target,
            source,
            "linux.output_truncated",
            format!("output cut at {} bytes", limits.max_output),
        ));
    }
    if text.contains('\u{fffd}') {
        diagnostics.push(Diagnostic::new(
            target,
            source,
            "linux.non_utf8",
            "output contained bytes that are not UTF-8; decoded lossily",
        ));
    }
    Ok(ProbeOutput {
        observation,
        diagnostics,
        credential: None,
    })
}
