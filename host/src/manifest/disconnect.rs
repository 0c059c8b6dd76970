//! wasmjob extension `spec.disconnect` (on Jobs, CronJobs and their Job
//! templates, and DaemonSets): what a cluster does with an object whose
//! node cannot reach the cluster's database.
//!
//! - `lostAfter` (a duration: `30s`, `5m`, `1h`): how long the node that
//!   holds the object keeps it while it cannot be reached; past it, other
//!   nodes may replace its work. Default: the node's `--node-grace`.
//! - `replace` (default `true`): `false` pins the object to the node that
//!   holds it — it keeps running there however long the link is down, and
//!   no other node ever takes it. A pod template whose placement admits
//!   one node by name (`nodeSelector: {kubernetes.io/hostname: NODE}`) is
//!   pinned to that node the same way.
//! - `reconcile` (default `keepReplacement`): when a node comes back after
//!   its work was replaced, what the other nodes decided stands
//!   (`keepReplacement`), or its own instances keep running and their rows
//!   take its state again (`keepOriginal`; DaemonSet instances).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{FieldError, Kind, PodSpec};
use crate::time::parse_duration;

/// The shortest `lostAfter`: a node's lease must outlast the margin kept
/// for clock drift (see `runner::cluster::leases`) with room to spare.
pub const MIN_LOST_AFTER: Duration = Duration::from_secs(2);

/// The label every node carries with its own name, as a kubelet does.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// `spec.disconnect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Disconnect {
    /// How long the holder keeps the object while it cannot be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_after: Option<String>,
    /// Whether other nodes may replace the object's work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<bool>,
    /// What stands when the node comes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<Reconcile>,
}

/// `spec.disconnect.reconcile`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Reconcile {
    /// What the other nodes decided while the node was away stands.
    #[default]
    KeepReplacement,
    /// The returning node's own instances keep running.
    KeepOriginal,
}

/// The policy an object's `spec.disconnect` and placement come to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DisconnectPolicy {
    /// `lostAfter`, when set.
    pub lost_after: Option<Duration>,
    /// Never replaced elsewhere.
    pub pinned: bool,
    /// What stands when the node comes back.
    pub reconcile: Reconcile,
}

impl Disconnect {
    /// Checks the values; `path` is where the field sits.
    pub fn validate(&self, path: &str) -> Result<(), FieldError> {
        let Some(text) = &self.lost_after else {
            return Ok(());
        };
        let at = format!("{path}.lostAfter");
        let lost_after = parse_duration(text).map_err(|e| FieldError::new(&at, e))?;
        if lost_after < MIN_LOST_AFTER {
            return Err(FieldError::new(
                at,
                format!(
                    "must be at least {}s, got {text:?}",
                    MIN_LOST_AFTER.as_secs()
                ),
            ));
        }
        Ok(())
    }

    /// The policy, for a pod template placed as `pod` says.
    pub fn policy(this: Option<&Disconnect>, pod: &PodSpec) -> DisconnectPolicy {
        let this = this.cloned().unwrap_or_default();
        DisconnectPolicy {
            lost_after: this.lost_after.and_then(|t| parse_duration(&t).ok()),
            pinned: this.replace == Some(false) || pod.pinned_node().is_some(),
            reconcile: this.reconcile.unwrap_or_default(),
        }
    }

    /// The policy of a stored object's normalized manifest (`metadata`
    /// and `spec`), read leniently: a field this version cannot read
    /// leaves the default.
    pub fn of_stored(kind: Kind, manifest: &serde_json::Value) -> DisconnectPolicy {
        let spec = &manifest["spec"];
        let (own, template) = match kind {
            Kind::Job | Kind::DaemonSet => (&spec["disconnect"], &spec["template"]["spec"]),
            Kind::CronJob => (
                &spec["disconnect"],
                &spec["jobTemplate"]["spec"]["template"]["spec"],
            ),
            // Nothing runs: the defaults.
            _ => (&serde_json::Value::Null, &serde_json::Value::Null),
        };
        let own: Option<Disconnect> = serde_json::from_value(own.clone()).ok();
        let pod: PodSpec = serde_json::from_value(template.clone()).unwrap_or_default();
        Disconnect::policy(own.as_ref(), &pod)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(kind: Kind, spec: serde_json::Value) -> DisconnectPolicy {
        Disconnect::of_stored(kind, &serde_json::json!({"metadata": {}, "spec": spec}))
    }

    #[test]
    fn without_the_field_an_object_is_replaceable_after_the_node_grace() {
        let policy = stored(Kind::Job, serde_json::json!({"template": {"spec": {}}}));
        assert_eq!(policy, DisconnectPolicy::default());
        assert!(!policy.pinned);
        assert_eq!(policy.reconcile, Reconcile::KeepReplacement);
    }

    #[test]
    fn replace_false_or_a_hostname_selector_pins_an_object() {
        let off = stored(
            Kind::CronJob,
            serde_json::json!({"disconnect": {"replace": false, "lostAfter": "30s"}}),
        );
        assert!(off.pinned);
        assert_eq!(off.lost_after, Some(Duration::from_secs(30)));
        let by_name = stored(
            Kind::CronJob,
            serde_json::json!({"jobTemplate": {"spec": {"template": {"spec":
                {"nodeSelector": {"kubernetes.io/hostname": "edge-1"}}}}}}),
        );
        assert!(by_name.pinned);
        let by_label = stored(
            Kind::DaemonSet,
            serde_json::json!({"template": {"spec": {"nodeSelector": {"disk": "nvme"}}}}),
        );
        assert!(!by_label.pinned);
    }

    #[test]
    fn a_lost_after_shorter_than_the_drift_margin_or_unreadable_is_refused() {
        let short = Disconnect {
            lost_after: Some("1s".into()),
            ..Default::default()
        };
        let e = short.validate("spec.disconnect").unwrap_err();
        assert_eq!(e.path, "spec.disconnect.lostAfter");
        assert!(e.message.contains("at least 2s"), "{}", e.message);
        let bad = Disconnect {
            lost_after: Some("soon".into()),
            ..Default::default()
        };
        let e = bad.validate("spec.disconnect").unwrap_err();
        assert!(e.message.contains("invalid duration"), "{}", e.message);
    }
}
