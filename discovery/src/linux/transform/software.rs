//! Installed packages (`dpkg`, `rpm`) and containers (`docker`, `podman`).

use std::collections::BTreeSet;

use cmdb_model::{CiClass, Observation, Record};

use super::{Diags, DEVICE_KEY};
use crate::linux::parse;
use crate::linux::script::Sections;

/// One record per package name of each package manager's list.
pub(super) fn packages(sections: &Sections, obs: &mut Observation, diags: &mut Diags<'_>) {
    for (mgr, section) in [("dpkg", "dpkg"), ("rpm", "rpm")] {
        let Some(body) = sections.body(section) else {
            continue;
        };
        let (pkgs, bad) = parse::parse_packages(body);
        diags.unparsable(section, bad);
        let mut seen = BTreeSet::new();
        for p in pkgs {
            if !seen.insert(p.name.clone()) {
                continue;
            }
            let mut r = Record::new(format!("pkg:{mgr}:{}", p.name), CiClass::SoftwarePackage)
                .name(p.name.clone())
                .parent(DEVICE_KEY)
                .ident("package_manager", mgr)
                .ident("package_name", p.name.clone())
                .attr("version", p.version);
            if !p.arch.is_empty() {
                r = r.attr("architecture", p.arch);
            }
            obs.push(r);
        }
    }
}

/// One record per container of each runtime, identified by its id (else runtime and name).
pub(super) fn containers(sections: &Sections, obs: &mut Observation, diags: &mut Diags<'_>) {
    for runtime in ["docker", "podman"] {
        let Some(body) = sections.body(runtime) else {
            continue;
        };
        let (cs, bad) = parse::parse_containers(body);
        diags.unparsable(runtime, bad);
        for c in cs {
            let id = if c.id.is_empty() {
                c.name.clone()
            } else {
                c.id.to_ascii_lowercase()
            };
            let mut r = Record::new(format!("ctr:{runtime}:{id}"), CiClass::Container)
                .name(if c.name.is_empty() {
                    id.clone()
                } else {
                    c.name.clone()
                })
                .parent(DEVICE_KEY)
                .ident("runtime", runtime)
                .attr("image", c.image)
                .attr("state", c.state);
            if !c.id.is_empty() {
                r = r.ident("container_id", c.id.to_ascii_lowercase());
            }
            if !c.name.is_empty() {
                r = r.ident("container_name", c.name);
            }
            obs.push(r);
        }
    }
}
