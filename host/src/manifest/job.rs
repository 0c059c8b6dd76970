//! `batch/v1` Job spec: how many instances, how many at once, how many
//! failures are tolerated.

use serde::{Deserialize, Serialize};

use super::disconnect::Disconnect;
use super::job_policy::{BackoffPolicy, PodFailurePolicy, SuccessPolicy};
use super::validate::{self, Check};
use super::{FieldError, PodTemplateSpec, RestartPolicy};
use crate::time::Micros;

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
    /// Indexed Jobs: failures tolerated per index; the index fails past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit_per_index: Option<i32>,
    /// Indexed Jobs with `backoffLimitPerIndex`: failed indexes tolerated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failed_indexes: Option<i32>,
    /// What a failed instance means, by exit code or condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_failure_policy: Option<PodFailurePolicy>,
    /// Indexed Jobs: when the Job succeeds before every index has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_policy: Option<SuccessPolicy>,
    /// While true, no instance runs and running ones are stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Delete the Job and its instances this long after it finishes; their
    /// history stays queryable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i32>,
    /// wasmjob extension: the retry delay (Kubernetes: 10 s doubling to 10 min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_policy: Option<BackoffPolicy>,
    /// wasmjob extension: the work queue the Job consumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueSource>,
    /// wasmjob extension: what a cluster does while the Job's node is away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect: Option<Disconnect>,
    /// wasmjob extension (as `at`): no instance starts before this RFC 3339
    /// time; until then the Job is `Scheduled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_after: Option<String>,
    /// wasmjob extension: Jobs that must reach a condition first (see
    /// [`super::Dependency`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<super::Dependency>,
    /// The instances' template.
    #[serde(default)]
    pub template: PodTemplateSpec,
}

/// `spec.queue` (wasmjob extension): where a Job's work items come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueSource {
    /// `redis://…` or `amqp://…`; absent for the embedded queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The queue (Redis list, RabbitMQ queue, embedded queue) name.
    pub name: String,
    /// `stdin` (default): one item per instance on its stdin; `lease`: the
    /// instances lease items through the `wasmjob:plugin/queue` interface.
    #[serde(default)]
    pub mode: QueueMode,
}

/// How instances get their items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueMode {
    /// One item per instance, on stdin; acked when the instance succeeds.
    #[default]
    Stdin,
    /// Instances lease items themselves until the queue is empty.
    Lease,
}

impl QueueSource {
    fn validate(&self, path: &str) -> Result<(), FieldError> {
        if self.name.trim().is_empty() {
            return Err(FieldError::new(format!("{path}.name"), "must not be empty"));
        }
        if let Some(url) = &self.url {
            let known = ["redis://", "rediss://", "amqp://", "amqps://"];
            if !known.iter().any(|scheme| url.starts_with(scheme)) {
                return Err(FieldError::new(
                    format!("{path}.url"),
                    format!(
                        "{url:?} is not a queue URL: use redis://HOST[:PORT], amqp://USER:PASS@HOST[:PORT], \
                         or leave url out for the embedded queue"
                    ),
                ));
            }
        }
        Ok(())
    }
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
        self.normalize_counts(path)?;
        self.template.normalize(
            &format!("{path}.template"),
            &[RestartPolicy::Never, RestartPolicy::OnFailure],
            RestartPolicy::Never,
            "Job",
        )?;
        self.suspend.get_or_insert(false);
        if let Some(ttl) = self.ttl_seconds_after_finished {
            validate::non_negative(ttl.into()).at(&format!("{path}.ttlSecondsAfterFinished"))?;
        }
        if let Some(backoff) = &self.backoff_policy {
            backoff.validate(&format!("{path}.backoffPolicy"))?;
        }
        self.normalize_per_index(path)?;
        if let Some(queue) = &self.queue {
            queue.validate(&format!("{path}.queue"))?;
        }
        if let Some(disconnect) = &self.disconnect {
            disconnect.validate(&format!("{path}.disconnect"))?;
        }
        self.validate_start_after(path)?;
        super::depends::normalize(&mut self.depends_on, path)?;
        self.validate_policies(path)
    }

    /// `startAfter`: an RFC 3339 time, on a Job (a CronJob's schedule says
    /// when its Jobs start).
    fn validate_start_after(&self, path: &str) -> Result<(), FieldError> {
        let Some(text) = &self.start_after else {
            return Ok(());
        };
        let at = format!("{path}.startAfter");
        if path.contains("jobTemplate") {
            return Err(FieldError::new(
                at,
                "is for Jobs: a CronJob's schedule says when its Jobs start",
            ));
        }
        match text.parse::<jiff::Timestamp>() {
            Ok(_) => Ok(()),
            Err(_) => Err(FieldError::new(
                at,
                format!("{text:?} is not an RFC 3339 time such as 2026-12-24T18:00:00Z"),
            )),
        }
    }

    /// When the first instance may start (`startAfter`), if set.
    pub fn start_after(&self) -> Option<Micros> {
        let at = self
            .start_after
            .as_deref()?
            .parse::<jiff::Timestamp>()
            .ok()?;
        Some(at.as_microsecond())
    }

    /// `completions`, `parallelism`, `backoffLimit`,
    /// `activeDeadlineSeconds` and `completionMode`, with their defaults.
    fn normalize_counts(&mut self, path: &str) -> Result<(), FieldError> {
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
        Ok(())
    }

    /// `podFailurePolicy` and `successPolicy`.
    fn validate_policies(&self, path: &str) -> Result<(), FieldError> {
        if let Some(policy) = &self.pod_failure_policy {
            if self.restart_policy() != RestartPolicy::Never {
                return Err(FieldError::new(
                    format!("{path}.podFailurePolicy"),
                    "is only allowed when spec.template.spec.restartPolicy is Never",
                ));
            }
            let pod = &self.template.spec;
            let containers: Vec<&str> = pod.all_containers().map(|c| c.name.as_str()).collect();
            policy.validate(
                &format!("{path}.podFailurePolicy"),
                &containers,
                self.backoff_limit_per_index.is_some(),
            )?;
        }
        if let Some(policy) = &self.success_policy {
            policy.validate(
                &format!("{path}.successPolicy"),
                self.indexed(),
                self.completions().unwrap_or(0),
            )?;
        }
        Ok(())
    }

    fn normalize_per_index(&mut self, path: &str) -> Result<(), FieldError> {
        if let Some(limit) = self.backoff_limit_per_index {
            if !self.indexed() {
                return Err(FieldError::new(
                    format!("{path}.backoffLimitPerIndex"),
                    "is only allowed when completionMode is Indexed",
                ));
            }
            validate::non_negative(limit.into()).at(&format!("{path}.backoffLimitPerIndex"))?;
            // As in Kubernetes: with a per-index limit the global one no
            // longer applies unless the user set it.
            if self.backoff_limit == Some(DEFAULT_BACKOFF_LIMIT) {
                self.backoff_limit = Some(i32::MAX);
            }
        }
        if let Some(max) = self.max_failed_indexes {
            if self.backoff_limit_per_index.is_none() {
                return Err(FieldError::new(
                    format!("{path}.maxFailedIndexes"),
                    "needs backoffLimitPerIndex",
                ));
            }
            validate::non_negative(max.into()).at(&format!("{path}.maxFailedIndexes"))?;
            let completions = self.completions().unwrap_or(0);
            if max as u32 > completions {
                return Err(FieldError::new(
                    format!("{path}.maxFailedIndexes"),
                    format!("must be at most completions ({completions}), got {max}"),
                ));
            }
        }
        Ok(())
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

    /// The queue each instance takes one stdin item from, if any.
    pub fn stdin_queue(&self) -> Option<&QueueSource> {
        self.queue.as_ref().filter(|q| q.mode == QueueMode::Stdin)
    }

    /// Whether instances are numbered.
    pub fn indexed(&self) -> bool {
        self.completion_mode == Some(CompletionMode::Indexed)
    }

    /// Whether the Job is suspended.
    pub fn suspended(&self) -> bool {
        self.suspend == Some(true)
    }

    /// The retry delay after the first failure and its cap, in seconds.
    pub fn backoff_delays(&self) -> (i64, i64) {
        let policy = self.backoff_policy.clone().unwrap_or_default();
        (
            policy.initial_delay_seconds.unwrap_or(10),
            policy.max_delay_seconds.unwrap_or(600),
        )
    }

    /// The restart policy after defaulting.
    pub fn restart_policy(&self) -> RestartPolicy {
        self.template
            .spec
            .restart_policy
            .unwrap_or(RestartPolicy::Never)
    }
}
