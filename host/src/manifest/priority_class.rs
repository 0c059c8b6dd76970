//! `scheduling.k8s.io/v1` PriorityClasses: the value that orders the
//! instances waiting for room on a node (`priorityClassName`), the two
//! classes every cluster has, and Kubernetes' checks of a user's class.
//! Stored as the other value-holding objects are ([`super::Config`]).

use serde::Deserialize;

use super::{FieldError, ObjectMeta};

/// A PriorityClass: how far ahead its instances go when a node has room
/// for fewer than wait.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Priority {
    /// Higher starts first.
    pub value: i32,
    /// The priority of templates that name no class.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub global_default: bool,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `PreemptLowerPriority` (the default) or `Never`; accepted: wasmjob
    /// orders waiting instances and never preempts running ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemption_policy: Option<String>,
}

/// The PriorityClasses every Kubernetes cluster has, and their values.
pub const SYSTEM_PRIORITY_CLASSES: &[(&str, i32)] = &[
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

/// The highest value a user's PriorityClass may have.
pub const MAX_USER_PRIORITY: i32 = 1_000_000_000;

/// A PriorityClass as written.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RawPriorityClass {
    #[serde(rename = "apiVersion")]
    _api_version: serde::de::IgnoredAny,
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    #[serde(default)]
    pub(super) metadata: ObjectMeta,
    value: i32,
    #[serde(default)]
    global_default: bool,
    #[serde(default)]
    description: String,
    #[serde(default)]
    preemption_policy: Option<String>,
}

impl RawPriorityClass {
    /// Kubernetes' checks: a user's value below the system classes', no
    /// `system-` name, a known preemption policy.
    pub(super) fn check(self) -> Result<Priority, FieldError> {
        if self.value > MAX_USER_PRIORITY {
            return Err(FieldError::new(
                "value",
                format!(
                    "must be at most {MAX_USER_PRIORITY}: higher values are reserved for the \
                     system classes (system-cluster-critical, system-node-critical)"
                ),
            ));
        }
        if self.metadata.name.starts_with("system-") {
            return Err(FieldError::new(
                "metadata.name",
                "the system- prefix is reserved for the system priority classes",
            ));
        }
        match self.preemption_policy.as_deref() {
            None | Some("PreemptLowerPriority") | Some("Never") => {}
            Some(other) => {
                return Err(FieldError::new(
                    "preemptionPolicy",
                    format!(
                        "unsupported value {other:?}: supported values: \"Never\", \
                         \"PreemptLowerPriority\""
                    ),
                ));
            }
        }
        Ok(Priority {
            value: self.value,
            global_default: self.global_default,
            description: self.description,
            preemption_policy: self.preemption_policy,
        })
    }
}
