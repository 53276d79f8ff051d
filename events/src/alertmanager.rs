//! Prometheus Alertmanager's webhook payload (version 4), exactly as Alertmanager sends it,
//! and the events it stands for: one per alert in `alerts[]`.
//!
//! - message key: the alert's `fingerprint` (Alertmanager's identity of a label set), or a hash
//!   of its labels when a sender leaves it out;
//! - node: the first of the configured node labels present (default `node`, `instance`, `host`,
//!   `hostname`, `nodename`, `job`); an `instance` of `host:port` gives the host; its port
//!   becomes the resource `tcp/PORT` (the listening endpoint Prometheus scraped), whichever
//!   label names the node, unless a resource label says otherwise;
//! - severity: the `severity` label by name (`critical`, `warning`, …; see
//!   [`EventSeverity::parse`]), else the configured default (major); `resolved` clears;
//! - time: `startsAt` while firing, `endsAt` once resolved.

use std::collections::BTreeMap;

use cmdb_model::Timestamp;
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventError, EventSeverity};
use crate::reference::node_ref;

/// Most alerts accepted in one notification (Alertmanager's `max_alerts` caps what it sends;
/// the default is 0, unlimited, and a group rarely holds more than a few hundred).
pub const MAX_ALERTS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    pub version: String,
    #[serde(default)]
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    pub status: String,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL", default)]
    pub external_url: String,
    pub alerts: Vec<AmAlert>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmAlert {
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

/// How labels map to event fields (`[events.alertmanager]` in `cmdb.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelMapping {
    /// Labels naming the node, first present wins.
    pub node_labels: Vec<String>,
    /// Labels naming the resource (a process, an endpoint, an interface), first present wins;
    /// without one, the port of an `instance` label.
    pub resource_labels: Vec<String>,
    /// The label holding the severity.
    pub severity_label: String,
    /// Severity of a firing alert without a (recognised) severity label.
    pub default_severity: EventSeverity,
    /// Whether an `instance`'s port becomes the resource (`[events]
    /// instance_port_as_resource`, one switch for every intake; off: alerts bind to the host).
    #[serde(skip)]
    pub instance_port_as_resource: bool,
}

impl Default for LabelMapping {
    fn default() -> Self {
        LabelMapping {
            node_labels: ["node", "instance", "host", "hostname", "nodename", "job"]
                .map(String::from)
                .to_vec(),
            resource_labels: ["resource", "process", "interface", "device"]
                .map(String::from)
                .to_vec(),
            severity_label: "severity".into(),
            default_severity: EventSeverity::Major,
            instance_port_as_resource: true,
        }
    }
}

fn time(field: &'static str, s: &str) -> Result<Option<Timestamp>, EventError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|_| {
            EventError::Malformed(format!(
                "`{field}`: `{}` is not an RFC 3339 time",
                s.chars().take(60).collect::<String>()
            ))
        })?
        .with_timezone(&chrono::Utc);
    // Alertmanager sends the zero time (0001-01-01T00:00:00Z) for "not ended".
    Ok((t.timestamp() > 0).then_some(t))
}

impl WebhookPayload {
    /// Check the envelope: version 4, a known status, at most [`MAX_ALERTS`] alerts.
    pub fn check(&self) -> Result<(), EventError> {
        if self.version != "4" {
            return Err(EventError::Malformed(format!(
                "`version`: `{}` is not supported (Alertmanager's webhook version is 4)",
                self.version.chars().take(20).collect::<String>()
            )));
        }
        if !matches!(self.status.as_str(), "firing" | "resolved") {
            return Err(EventError::Malformed(
                "`status` must be `firing` or `resolved`".into(),
            ));
        }
        if self.alerts.len() > MAX_ALERTS {
            return Err(EventError::Malformed(format!(
                "{} alerts in one notification; at most {MAX_ALERTS}",
                self.alerts.len()
            )));
        }
        Ok(())
    }

    /// The events of this notification, one per alert, in order. A malformed envelope refuses
    /// the whole notification (Alertmanager does not retry a 4xx, so only what cannot be read at
    /// all is refused); an alert that cannot become an event (no node label, a bad time) is
    /// refused alone, with its reason, and the others go on. `now` dates a resolved alert
    /// without `endsAt`.
    pub fn events(
        &self,
        mapping: &LabelMapping,
        now: Timestamp,
    ) -> Result<Vec<Result<Event, EventError>>, EventError> {
        self.check()?;
        Ok(self
            .alerts
            .iter()
            .enumerate()
            .map(|(i, a)| {
                a.event(self, mapping, now)
                    .map_err(|e| EventError::Malformed(format!("alerts[{i}]: {e}")))
            })
            .collect())
    }
}

impl AmAlert {
    /// This alert as an event: who it is about (node and resource, from the mapped labels),
    /// how bad it is, when, its message key, and everything else Alertmanager said as
    /// additional info.
    fn event(
        &self,
        p: &WebhookPayload,
        m: &LabelMapping,
        now: Timestamp,
    ) -> Result<Event, EventError> {
        let resolved = self.resolved()?;
        let node = self.node(m)?;
        let starts = time("startsAt", &self.starts_at)?;
        let ends = time("endsAt", &self.ends_at)?;
        let when = if resolved {
            ends.unwrap_or(now)
        } else {
            starts.unwrap_or(now)
        };
        Event {
            source: "alertmanager".into(),
            node,
            resource: self.resource(m),
            event_type: self.labels.get("alertname").cloned(),
            metric_name: None,
            severity: self.severity(m, resolved),
            message_key: Some(self.message_key()),
            description: self.description(p),
            time: when,
            additional_info: self.additional_info(p, starts),
        }
        .validated()
    }

    fn resolved(&self) -> Result<bool, EventError> {
        match self.status.as_str() {
            "firing" => Ok(false),
            "resolved" => Ok(true),
            _ => Err(EventError::Malformed(
                "`status` must be `firing` or `resolved`".into(),
            )),
        }
    }

    /// The first of `names` this alert has a non-blank label for: (name, value).
    fn first_label(&self, names: &[String]) -> Option<(String, String)> {
        names.iter().find_map(|n| {
            self.labels
                .get(n)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (n.clone(), v.clone()))
        })
    }

    /// The node the alert is about. `instance` is `host:port`: the node is the host, the port
    /// the endpoint scraped (see [`AmAlert::resource`]).
    fn node(&self, m: &LabelMapping) -> Result<String, EventError> {
        let (node_label, node_value) = self.first_label(&m.node_labels).ok_or_else(|| {
            EventError::Malformed(format!(
                "no node label (one of {})",
                m.node_labels.join(", ")
            ))
        })?;
        if node_label == "instance" {
            if let Some(host) = strip_port(&node_value) {
                return Ok(host);
            }
        }
        Ok(node_value)
    }

    /// The resource label, else `tcp/{port}` of `instance="host:port"` when configured — also
    /// when another label names the node (`node="web1"` beside `instance="10.0.0.5:9100"`):
    /// the instance is the scraped target on that node.
    fn resource(&self, m: &LabelMapping) -> Option<String> {
        let port = self
            .labels
            .get("instance")
            .filter(|_| m.instance_port_as_resource)
            .and_then(|i| node_ref(i).port);
        self.first_label(&m.resource_labels)
            .map(|(_, v)| v)
            .or_else(|| port.map(|p| format!("tcp/{p}")))
    }

    /// Clear when resolved, else the severity label's, else the mapping's default.
    fn severity(&self, m: &LabelMapping, resolved: bool) -> EventSeverity {
        if resolved {
            return EventSeverity::Clear;
        }
        match self
            .labels
            .get(&m.severity_label)
            .and_then(|s| EventSeverity::parse(s))
        {
            Some(EventSeverity::Clear) | None => m.default_severity,
            Some(s) => s,
        }
    }

    /// `am:` and Alertmanager's fingerprint, or a hash of the labels when it sent none.
    fn message_key(&self) -> String {
        if !self.fingerprint.trim().is_empty() {
            return format!("am:{}", self.fingerprint.trim());
        }
        let mut h = blake3::Hasher::new();
        for (k, v) in &self.labels {
            h.update(k.as_bytes());
            h.update(&[0]);
            h.update(v.as_bytes());
            h.update(&[0]);
        }
        format!("am:{}", &h.finalize().to_hex()[..16])
    }

    /// The first summary, description or message annotation, the alert's own before the
    /// notification's common ones.
    fn description(&self, p: &WebhookPayload) -> Option<String> {
        ["summary", "description", "message"]
            .iter()
            .find_map(|k| {
                self.annotations
                    .get(*k)
                    .or_else(|| p.common_annotations.get(*k))
            })
            .cloned()
    }

    /// Labels, annotations, URLs, receiver, group key and start time, as Alertmanager sent them.
    fn additional_info(&self, p: &WebhookPayload, starts: Option<Timestamp>) -> serde_json::Value {
        let mut info = serde_json::Map::new();
        info.insert(
            "labels".into(),
            serde_json::to_value(&self.labels).unwrap_or_default(),
        );
        if !self.annotations.is_empty() {
            info.insert(
                "annotations".into(),
                serde_json::to_value(&self.annotations).unwrap_or_default(),
            );
        }
        for (k, v) in [
            ("generatorURL", &self.generator_url),
            ("receiver", &p.receiver),
            ("externalURL", &p.external_url),
            ("groupKey", &p.group_key),
        ] {
            if !v.is_empty() {
                info.insert(k.into(), serde_json::Value::String(v.clone()));
            }
        }
        if let Some(s) = starts {
            info.insert("startsAt".into(), serde_json::Value::String(s.to_rfc3339()));
        }
        serde_json::Value::Object(info)
    }
}

/// `host` of `host:port` / `[v6]:port`; `None` when there is no port to strip.
fn strip_port(s: &str) -> Option<String> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').map(|(h, _)| h.to_string());
    }
    if s.matches(':').count() == 1 {
        let (h, p) = s.split_once(':')?;
        if p.parse::<u16>().is_ok() {
            return Some(h.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A notification as Alertmanager 0.25+ sends it (webhook_config, send_resolved: true).
    const FIRING: &str = r#"{
      "receiver": "cmdb",
      "status": "firing",
      "alerts": [
        {
          "status": "firing",
          "labels": {"alertname": "TargetDown", "instance": "10.77.0.21:8080", "job": "web", "severity": "critical"},
          "annotations": {"summary": "web1 is down"},
          "startsAt": "2026-11-24T10:00:00.123Z",
          "endsAt": "0001-01-01T00:00:00Z",
          "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0",
          "fingerprint": "c2a4e1f0a1b2c3d4"
        },
        {
          "status": "resolved",
          "labels": {"alertname": "DiskFull", "node": "db1.example.com", "device": "sda1"},
          "annotations": {},
          "startsAt": "2026-11-24T09:00:00Z",
          "endsAt": "2026-11-24T09:30:00Z",
          "generatorURL": "",
          "fingerprint": "00ff"
        }
      ],
      "groupLabels": {"alertname": "TargetDown"},
      "commonLabels": {"job": "web"},
      "commonAnnotations": {},
      "externalURL": "http://alertmanager:9093",
      "version": "4",
      "groupKey": "{}:{alertname=\"TargetDown\"}",
      "truncatedAlerts": 0
    }"#;

    fn now() -> Timestamp {
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn a_notification_becomes_events() {
        let p: WebhookPayload = serde_json::from_str(FIRING).unwrap();
        let ev: Vec<Event> = p
            .events(&LabelMapping::default(), now())
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ev.len(), 2);
        let a = &ev[0];
        assert_eq!(
            (a.node.as_str(), a.resource.as_deref()),
            ("10.77.0.21", Some("tcp/8080"))
        );
        assert_eq!(a.severity, EventSeverity::Critical);
        assert_eq!(a.message_key.as_deref(), Some("am:c2a4e1f0a1b2c3d4"));
        assert_eq!(a.event_type.as_deref(), Some("TargetDown"));
        assert_eq!(a.time.to_rfc3339(), "2026-11-24T10:00:00.123+00:00");
        assert_eq!(a.description.as_deref(), Some("web1 is down"));
        assert_eq!(a.additional_info["labels"]["job"], "web");
        let b = &ev[1];
        assert_eq!(
            (b.node.as_str(), b.resource.as_deref()),
            ("db1.example.com", Some("sda1"))
        );
        assert_eq!(b.severity, EventSeverity::Clear);
        assert_eq!(b.time.to_rfc3339(), "2026-11-24T09:30:00+00:00");
    }

    #[test]
    fn mapping_defaults_and_fallbacks() {
        let mut p: WebhookPayload = serde_json::from_str(FIRING).unwrap();
        p.alerts[0].labels.remove("severity");
        p.alerts[0].fingerprint.clear();
        p.alerts[0].labels.insert("host".into(), "web1".into());
        let m = LabelMapping {
            node_labels: vec!["host".into(), "instance".into(), "node".into()],
            ..LabelMapping::default()
        };
        let e = p.events(&m, now()).unwrap().remove(0).unwrap();
        assert_eq!(e.node, "web1");
        assert_eq!(
            e.resource.as_deref(),
            Some("tcp/8080"),
            "the instance's port, whichever label names the node"
        );
        let off = LabelMapping {
            instance_port_as_resource: false,
            ..m.clone()
        };
        let e2 = p.events(&off, now()).unwrap().remove(0).unwrap();
        assert_eq!(
            e2.resource, None,
            "switched off: the alert is about the host"
        );
        assert_eq!(e.severity, EventSeverity::Major);
        let k = e.message_key.clone().unwrap();
        assert!(k.starts_with("am:") && k.len() == 19, "{k}");
        // The label hash is stable: the same labels, the same key.
        let again = p.events(&m, now()).unwrap().remove(0).unwrap();
        assert_eq!(e.key(), again.key());
    }

    #[test]
    fn a_malformed_envelope_refuses_all_and_a_malformed_alert_only_itself() {
        let ok: serde_json::Value = serde_json::from_str(FIRING).unwrap();
        type Mutation = Box<dyn Fn(&mut serde_json::Value)>;
        let envelope: Vec<(Mutation, &str)> = vec![
            (Box::new(|v| v["version"] = "3".into()), "version"),
            (Box::new(|v| v["status"] = "weird".into()), "status"),
        ];
        for (f, want) in envelope {
            let mut v = ok.clone();
            f(&mut v);
            let p: WebhookPayload = serde_json::from_value(v).unwrap();
            let err = p
                .events(&LabelMapping::default(), now())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{want}: {err}");
        }
        let per_alert: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|v| v["alerts"][0]["status"] = "pending".into()),
                "alerts[0]",
            ),
            (
                Box::new(|v| v["alerts"][0]["startsAt"] = "soon".into()),
                "startsAt",
            ),
            (
                Box::new(|v| v["alerts"][0]["labels"] = serde_json::json!({"alertname": "x"})),
                "no node label",
            ),
            (
                Box::new(|v| v["alerts"][0]["labels"]["instance"] = "x".repeat(2000).into()),
                "longer than",
            ),
        ];
        for (f, want) in per_alert {
            let mut v = ok.clone();
            f(&mut v);
            let p: WebhookPayload = serde_json::from_value(v).unwrap();
            let out = p.events(&LabelMapping::default(), now()).unwrap();
            let err = out[0].as_ref().unwrap_err().to_string();
            assert!(err.contains(want), "{want}: {err}");
            assert!(out[1].is_ok(), "the other alert goes on");
        }
        // A long summary is cut, not refused.
        let mut v = ok.clone();
        v["alerts"][0]["annotations"]["summary"] = "y".repeat(40_000).into();
        let p: WebhookPayload = serde_json::from_value(v).unwrap();
        let e = p.events(&LabelMapping::default(), now()).unwrap().remove(0);
        assert!(e.unwrap().description.unwrap().ends_with('…'));
        let mut v = ok.clone();
        v["alerts"] = serde_json::Value::Array(vec![ok["alerts"][0].clone(); MAX_ALERTS + 1]);
        let p: WebhookPayload = serde_json::from_value(v).unwrap();
        assert!(p.events(&LabelMapping::default(), now()).is_err());
    }
}
