//! `batch/v1` CronJob spec. Its shape is checked here so a file holding
//! CronJobs is validated like any other; scheduling belongs to the CronJob
//! controller.

use serde::{Deserialize, Serialize};

use super::disconnect::Disconnect;
use super::pod::TemplateMeta;
use super::validate::{self, Check};
use super::{FieldError, JobSpec};

/// `spec` of a CronJob.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CronJobSpec {
    /// A cron schedule such as `*/1 * * * *`.
    #[serde(default)]
    pub schedule: String,
    /// An IANA time zone name; UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// A run that cannot start within this many seconds of its time is missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_deadline_seconds: Option<i64>,
    /// `Allow` (default), `Forbid` or `Replace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    /// No new runs while true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// The Job each run creates.
    #[serde(default)]
    pub job_template: JobTemplateSpec,
    /// Finished successful Jobs kept. Defaults to 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_jobs_history_limit: Option<i32>,
    /// Finished failed Jobs kept. Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_jobs_history_limit: Option<i32>,
    /// wasmjob extension: what happens to times missed while no node ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed_run_policy: Option<MissedRunPolicy>,
    /// wasmjob extension: what a cluster does while the CronJob's node is
    /// away; its Jobs take it unless their template says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect: Option<Disconnect>,
}

/// wasmjob extension `spec.missedRunPolicy`: what happens to scheduled times
/// that passed while nothing ran them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MissedRunPolicy {
    /// Kubernetes: run the most recent missed time (within the deadline).
    #[default]
    RunLatest,
    /// Run every missed time within the deadline, up to a cap of 50.
    RunAll,
    /// Run only times that are due now; anything older is missed.
    Skip,
}

/// `concurrencyPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConcurrencyPolicy {
    /// Runs may overlap.
    Allow,
    /// Skip a run while the previous one is active.
    Forbid,
    /// Stop the previous run and start the new one.
    Replace,
}

/// `jobTemplate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobTemplateSpec {
    /// Labels and annotations of the created Jobs.
    #[serde(default)]
    pub metadata: TemplateMeta,
    /// The created Jobs' spec.
    #[serde(default)]
    pub spec: JobSpec,
}

impl CronJobSpec {
    /// Fills defaults and checks the values.
    pub fn normalize(&mut self, path: &str) -> Result<(), FieldError> {
        let schedule = self.schedule.trim();
        if schedule.is_empty() {
            return Err(FieldError::new(
                format!("{path}.schedule"),
                "is required: a cron schedule such as \"*/1 * * * *\"",
            ));
        }
        if let Err(e) = crate::schedule::Schedule::parse(schedule) {
            return Err(FieldError::new(format!("{path}.schedule"), e.problem));
        }
        if let Some(zone) = &self.time_zone
            && crate::schedule::time_zone(Some(zone)).is_none()
        {
            return Err(FieldError::new(
                format!("{path}.timeZone"),
                format!("unknown time zone {zone:?}: use an IANA name such as Europe/Berlin"),
            ));
        }
        if let Some(secs) = self.starting_deadline_seconds {
            validate::non_negative(secs).at(&format!("{path}.startingDeadlineSeconds"))?;
        }
        if let Some(disconnect) = &self.disconnect {
            disconnect.validate(&format!("{path}.disconnect"))?;
        }
        self.concurrency_policy
            .get_or_insert(ConcurrencyPolicy::Allow);
        self.suspend.get_or_insert(false);
        let ok = *self.successful_jobs_history_limit.get_or_insert(3);
        validate::non_negative(ok.into()).at(&format!("{path}.successfulJobsHistoryLimit"))?;
        let failed = *self.failed_jobs_history_limit.get_or_insert(1);
        validate::non_negative(failed.into()).at(&format!("{path}.failedJobsHistoryLimit"))?;
        validate::labels(
            &self.job_template.metadata.labels,
            &format!("{path}.jobTemplate.metadata.labels"),
        )?;
        self.job_template
            .spec
            .normalize(&format!("{path}.jobTemplate.spec"))
    }
}
