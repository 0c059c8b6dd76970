//! `batch/v1` Job spec: how many instances, how many at once, how many
//! failures are tolerated.

use serde::{Deserialize, Serialize};

use super::validate::{self, Check};
use super::{FieldError, PodTemplateSpec, RestartPolicy};

/// The default of `backoffLimit`, as in Kubernetes.
pub const DEFAULT_BACKOFF_LIMIT: i32 = 6;

/// `spec` of a Job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobSpec {
    /// How many instances may run at once. Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    /// How many successes complete the Job. When neither this nor
    /// `parallelism` is set it defaults to 1; when only `parallelism` is set it
    /// stays unset, and the first success (once nothing runs) completes the Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completions: Option<i32>,
    /// Failed instances tolerated before the Job fails. Defaults to 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<i32>,
    /// Seconds from the Job's start after which it fails with
    /// `DeadlineExceeded`, stopping what runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    /// `NonIndexed` (default) or `Indexed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_mode: Option<CompletionMode>,
    /// The instances' template.
    #[serde(default)]
    pub template: PodTemplateSpec,
}

/// `completionMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompletionMode {
    /// Any `completions` successes complete the Job.
    NonIndexed,
    /// One success per index 0..completions-1.
    Indexed,
}

impl JobSpec {
    /// Fills Kubernetes' defaults and checks the values. `path` is where the
    /// spec sits (`spec`, or `spec.jobTemplate.spec` in a CronJob).
    pub fn normalize(&mut self, path: &str) -> Result<(), FieldError> {
        if self.completions.is_none() && self.parallelism.is_none() {
            self.completions = Some(1);
        }
        let parallelism = *self.parallelism.get_or_insert(1);
        validate::non_negative(parallelism.into()).at(&format!("{path}.parallelism"))?;
        if let Some(completions) = self.completions {
            validate::non_negative(completions.into()).at(&format!("{path}.completions"))?;
        }
        let backoff = *self.backoff_limit.get_or_insert(DEFAULT_BACKOFF_LIMIT);
        validate::non_negative(backoff.into()).at(&format!("{path}.backoffLimit"))?;
        if let Some(secs) = self.active_deadline_seconds {
            validate::positive(secs).at(&format!("{path}.activeDeadlineSeconds"))?;
        }
        let mode = *self
            .completion_mode
            .get_or_insert(CompletionMode::NonIndexed);
        if mode == CompletionMode::Indexed && self.completions.is_none() {
            return Err(FieldError::new(
                format!("{path}.completions"),
                "is required when completionMode is Indexed",
            ));
        }
        self.template.normalize(
            &format!("{path}.template"),
            &[RestartPolicy::Never, RestartPolicy::OnFailure],
            RestartPolicy::Never,
            "Job",
        )
    }

    /// `parallelism` after defaulting.
    pub fn parallelism(&self) -> u32 {
        self.parallelism.unwrap_or(1).max(0) as u32
    }

    /// `completions` after defaulting; `None` means "until one succeeds".
    pub fn completions(&self) -> Option<u32> {
        self.completions.map(|c| c.max(0) as u32)
    }

    /// `backoffLimit` after defaulting.
    pub fn backoff_limit(&self) -> u32 {
        self.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT).max(0) as u32
    }

    /// Whether instances are numbered.
    pub fn indexed(&self) -> bool {
        self.completion_mode == Some(CompletionMode::Indexed)
    }

    /// The restart policy after defaulting.
    pub fn restart_policy(&self) -> RestartPolicy {
        self.template
            .spec
            .restart_policy
            .unwrap_or(RestartPolicy::Never)
    }
}
