//! Synthetic estates for fault tests and the benchmark: `hosts` hosts, each with an interface,
//! an IP address, two processes and a listening endpoint (5 CIs), 4 structural relationships
//! per host plus one CONNECTS_TO to the previous host's endpoint (so 1 host = 5 CIs + 5 rels
//! counting the CONTAINS/RUNS_ON edges the reconciler adds).

#![allow(dead_code)]

use cmdb_model::{CiClass, EvidenceKind, Observation, Record, RelType, RunId, Scope, Source};
use serde_json::json;

/// One observation covering hosts `from..to` (as one sweep over an address range reports them).
pub fn estate(from: usize, to: usize, run: &str) -> Observation {
    // One scope target per observation (a sweep over a range): sightings are per target.
    let mut o = Observation::new(
        Source::new("ssh"),
        RunId::new(run),
        Scope::complete([format!("range-{from}-{to}")]),
    );
    for i in from..to {
        let (a, b) = (i / 250, i % 250);
        let ip = format!("10.{}.{}.{}", 100 + a / 250, a % 250, b + 1);
        let d = format!("d{i}");
        o.push(
            Record::new(&d, CiClass::Host)
                .name(format!("host-{i:06}"))
                .ident("serial_number", format!("SN-{i:08}"))
                .ident("hostname", format!("host-{i:06}"))
                .ident("ip_addresses", json!([ip]))
                .attr("os_name", "Debian GNU/Linux")
                .attr("rack", format!("r{}", i % 40)),
        );
        o.push(
            Record::new(format!("e{i}"), CiClass::Interface)
                .parent(&d)
                .ident("if_name", "eth0"),
        );
        o.push(Record::new(format!("ip{i}"), CiClass::IpAddress).ident("address", ip.as_str()));
        o.push(
            Record::new(format!("p{i}"), CiClass::Process)
                .parent(&d)
                .ident("executable", "nginx")
                .ident("command_line", "nginx: master"),
        );
        o.push(
            Record::new(format!("l{i}"), CiClass::ListeningEndpoint)
                .parent(&d)
                .ident("protocol", "tcp")
                .ident("port", 443),
        );
        o.relate(
            RelType::HasIp,
            &format!("e{i}"),
            &format!("ip{i}"),
            EvidenceKind::Inventory,
            1.0,
        );
        o.relate(
            RelType::ListensOn,
            &format!("p{i}"),
            &format!("l{i}"),
            EvidenceKind::Socket,
            0.9,
        );
        if i > from {
            o.relate(
                RelType::ConnectsTo,
                &format!("p{i}"),
                &format!("l{}", i - 1),
                EvidenceKind::Socket,
                0.5,
            );
        }
    }
    o
}
