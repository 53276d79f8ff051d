//! What the collection says about itself: sections missing, cut off, or from commands that
//! are not installed, lack privileges or failed.

use super::Diags;
use crate::linux::script::{Sections, SECTIONS};

/// Sections whose absence is normal (alternatives, optional software): no diagnostic.
const OPTIONAL: &[&str] = &[
    "rpm", "dpkg", "docker", "podman", "systemd", "ps_unit", "dmi",
];

/// One diagnostic per section that did not come back whole; returns whether the collection
/// is complete (the script ran to its end and no section was cut off).
pub(super) fn report(sections: &Sections, diags: &mut Diags<'_>) -> bool {
    let mut complete = sections.done;
    if !sections.done {
        diags.push(
            "linux.collection_incomplete",
            "the collection script did not run to its end",
        );
    }
    for name in SECTIONS {
        match sections.get(name) {
            None => {
                if sections.done {
                    diags.push(
                        "linux.section_missing",
                        format!("section `{name}` missing from the output"),
                    );
                }
            }
            Some(s) if s.status.is_none() => {
                complete = false;
                diags.push("linux.section_cut", format!("section `{name}` was cut off"));
            }
            Some(s) if s.missing() => {
                if !OPTIONAL.contains(name) {
                    diags.push(
                        "linux.command_missing",
                        format!("`{name}`: command not available"),
                    );
                }
            }
            Some(s) if s.status == Some(13) => {
                diags.push(
                    "linux.permission_denied",
                    format!("`{name}`: some data needs more privileges"),
                );
            }
            Some(s) if !s.ok() => {
                // optional software that failed without saying anything: not worth a diagnostic
                if !(OPTIONAL.contains(name) && s.body.trim().is_empty()) {
                    diags.push(
                        "linux.command_failed",
                        format!("`{name}` exited with status {}", s.status.unwrap_or(-1)),
                    );
                }
            }
            Some(_) => {}
        }
    }
    complete
}
