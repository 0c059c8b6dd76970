//! What is observed of objects and their instances, in Kubernetes' shapes:
//! a Job's `status` with its conditions, an instance's phase (a Pod's), and
//! how one run of an instance ended (a container's termination). Controllers
//! decide these values; the store keeps them; the API shows them.

use serde::{Deserialize, Serialize};

use crate::time::{Micros, rfc3339};

/// An instance's lifecycle phase, as a Pod's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Created, not yet running.
    Pending,
    /// Running now.
    Running,
    /// Ended with exit code 0.
    Succeeded,
    /// Ended any other way.
    Failed,
}

impl Phase {
    /// The stored and shown spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }

    /// The phase of a stored spelling.
    pub fn parse(text: &str) -> Option<Phase> {
        Some(match text {
            "Pending" => Phase::Pending,
            "Running" => Phase::Running,
            "Succeeded" => Phase::Succeeded,
            "Failed" => Phase::Failed,
            _ => return None,
        })
    }

    /// Whether the instance has ended.
    pub fn is_finished(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

/// A Job's `status`, field for field as in batch/v1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// Instances running now.
    pub active: u32,
    /// Instances running now (a Wasm instance is ready once it runs).
    pub ready: u32,
    /// Succeeded instances.
    pub succeeded: u32,
    /// Failed instances and attempts.
    pub failed: u32,
    /// When the Job first ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When the Job completed (only on success, as in Kubernetes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
    /// Indexed Jobs: succeeded indexes in compact form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_indexes: Option<String>,
    /// Indexed Jobs: failed indexes in compact form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_indexes: Option<String>,
    /// `SuccessCriteriaMet`/`Complete` or `FailureTarget`/`Failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A status condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Complete`, `Failed`, `SuccessCriteriaMet`, `FailureTarget`, `Suspended`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `True` or `False`.
    pub status: String,
    /// Machine-readable cause.
    pub reason: String,
    /// Human-readable cause.
    pub message: String,
    /// When it was last checked.
    pub last_probe_time: String,
    /// When it became what it is.
    pub last_transition_time: String,
}

impl Condition {
    /// A `True` condition set at `now`.
    pub fn new(kind: &str, reason: &str, message: &str, now: Micros) -> Self {
        Condition {
            kind: kind.to_owned(),
            status: "True".to_owned(),
            reason: reason.to_owned(),
            message: message.to_owned(),
            last_probe_time: rfc3339(now),
            last_transition_time: rfc3339(now),
        }
    }
}

impl JobStatus {
    /// `Complete`, `Failed`, or `Running`, as `get jobs` shows it.
    pub fn phase(&self) -> &'static str {
        for condition in &self.conditions {
            match condition.kind.as_str() {
                "Complete" => return "Complete",
                "Failed" => return "Failed",
                _ => {}
            }
        }
        "Running"
    }

    /// Whether the Job has finished either way.
    pub fn is_finished(&self) -> bool {
        self.phase() != "Running"
    }
}

/// The end of one instance run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Exit code 0.
    Succeeded,
    /// A non-zero exit code (reason `Error`).
    Failed {
        /// The guest's exit code.
        exit_code: i32,
    },
    /// The guest trapped (reason `Trapped`); no exit code.
    Trapped {
        /// The trap's text.
        message: String,
    },
    /// The guest asked for more memory than `resources.limits.memory`.
    OomKilled {
        /// What the limiter refused.
        message: String,
    },
    /// The wall-clock deadline passed and the guest was stopped.
    DeadlineExceeded {
        /// Which deadline.
        message: String,
    },
    /// The guest went past a network limit (connections, bytes sent, a
    /// request's time) and was stopped.
    NetworkLimitExceeded {
        /// Which limit, and its annotation.
        message: String,
    },
    /// The instance could not be started at all.
    StartError {
        /// Why.
        message: String,
    },
}

impl Outcome {
    /// Whether the instance succeeded.
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Succeeded)
    }

    /// Kubernetes' `reason` for a failed instance.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Outcome::Succeeded => None,
            Outcome::Failed { .. } => Some("Error"),
            Outcome::Trapped { .. } => Some("Trapped"),
            Outcome::OomKilled { .. } => Some("OOMKilled"),
            Outcome::DeadlineExceeded { .. } => Some("DeadlineExceeded"),
            Outcome::NetworkLimitExceeded { .. } => Some("NetworkLimitExceeded"),
            Outcome::StartError { .. } => Some("StartError"),
        }
    }

    /// The exit code, when the guest exited.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Outcome::Succeeded => Some(0),
            Outcome::Failed { exit_code } => Some(*exit_code),
            _ => None,
        }
    }

    /// The human-readable detail.
    pub fn message(&self) -> Option<String> {
        match self {
            Outcome::Succeeded => None,
            Outcome::Failed { exit_code } => Some(format!("exited with code {exit_code}")),
            Outcome::Trapped { message }
            | Outcome::OomKilled { message }
            | Outcome::DeadlineExceeded { message }
            | Outcome::NetworkLimitExceeded { message }
            | Outcome::StartError { message } => Some(message.clone()),
        }
    }
}

/// How an instance's record ends: its final phase, and the kubelet's
/// exit code, reason and message (see [`crate::controller::instance`] for
/// which run ends how).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    /// `Succeeded` or `Failed`.
    pub phase: Phase,
    /// The exit code, when the guest exited.
    pub exit_code: Option<i32>,
    /// Kubernetes' reason for a failure.
    pub reason: Option<String>,
    /// The detail.
    pub message: Option<String>,
}

/// A reference to an object, as a CronJob's `status.active` lists its Jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// `batch/v1`.
    pub api_version: String,
    /// `Job`.
    pub kind: String,
    /// The name.
    pub name: String,
    /// The namespace.
    pub namespace: String,
    /// The uid.
    pub uid: String,
}

/// A CronJob's `status`, field for field as in batch/v1.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJobStatus {
    /// The Jobs running now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<ObjectReference>,
    /// The last scheduled time decided (started or missed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<String>,
    /// The scheduled time of the last run that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<String>,
    /// wasmjob extension: the runs still to start, when `spec.remainingRuns`
    /// is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_runs: Option<i64>,
    /// wasmjob extension: scheduled times waiting for a run to end
    /// (`overlapPolicy: BufferOne | BufferAll`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buffered_times: Vec<String>,
    /// wasmjob extension: the last backfill acted on, and its runs still
    /// to start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<BackfillStatus>,
}

/// `status.backfill` of a CronJob.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackfillStatus {
    /// The request (the annotation `wasmjob.dev/backfill`) acted on.
    pub request: String,
    /// How its runs overlap (`BufferAll`, `Skip` or `AllowAll`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<super::OverlapPolicy>,
    /// Its runs still to start, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<BackfillRun>,
}

/// A backfill's run still to start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackfillRun {
    /// Its scheduled time.
    pub time: String,
    /// The Job of the time it replaces (`--rerun`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}
