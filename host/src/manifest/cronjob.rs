//! `batch/v1` CronJob spec. Its shape is checked here so a file holding
//! CronJobs is validated like any other; scheduling belongs to the CronJob
//! controller.

use serde::{Deserialize, Serialize};

use super::disconnect::Disconnect;
use super::pod::TemplateMeta;
use super::validate::{self, Check};
use super::{FieldError, JobSpec};
use crate::schedule::{Schedule, Timetable};

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
    /// wasmjob extension: more schedules (as Argo's `schedules`), each in
    /// its own time zone; a time two schedules match runs once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<ScheduleEntry>,
    /// wasmjob extension: each run starts up to this many seconds after
    /// its scheduled time, by a delay every node derives alike from the
    /// CronJob's uid and the time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_seconds: Option<i64>,
    /// wasmjob extension (Temporal's catch-up window): scheduled times
    /// missed longer ago than this are recorded as missed; newer ones run
    /// as `missedRunPolicy` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catchup_window_seconds: Option<i64>,
    /// wasmjob extension: no scheduled time before this RFC 3339 time runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// wasmjob extension: no scheduled time after this RFC 3339 time runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// wasmjob extension (Temporal's `remaining_actions`): how many more
    /// runs start; counted down in `status.remainingRuns`, and set again
    /// by changing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_runs: Option<i64>,
    /// wasmjob extension (Temporal's `pause_on_failure`): a run that fails
    /// suspends the CronJob, with a pause note saying which.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_on_failure: Option<bool>,
    /// wasmjob extension (Temporal's overlap policies): what a scheduled
    /// time does while `maxConcurrentRuns` runs are active. When given it
    /// decides, and `concurrencyPolicy` shows its Kubernetes counterpart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_policy: Option<OverlapPolicy>,
    /// wasmjob extension: how many runs may be active at once; 1 by
    /// default, unlimited for `AllowAll` unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_runs: Option<i64>,
}

/// The timetable of a CronJob as stored or served (its `metadata` and
/// `spec`), for what reads it as JSON: `describe`, `/metrics`, the API's
/// next times.
pub fn timetable_of(cronjob: &serde_json::Value) -> Option<Timetable> {
    let spec: CronJobSpec = serde_json::from_value(cronjob["spec"].clone()).ok()?;
    let meta = &cronjob["metadata"];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let owner = format!("{}/{}", text(&meta["namespace"]), text(&meta["name"]));
    Some(spec.timetable(&owner, &text(&meta["uid"])))
}

/// One of `spec.schedules`: a schedule alone (`"0 9 * * 1-5"`), or with its
/// time zone (`{schedule: "0 9 * * *", timeZone: Asia/Tokyo}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleEntry {
    /// The cron schedule.
    pub schedule: String,
    /// Its IANA time zone; the CronJob's `timeZone` (or UTC) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl<'de> Deserialize<'de> for ScheduleEntry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Zoned {
            schedule: String,
            #[serde(default)]
            time_zone: Option<String>,
        }
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = ScheduleEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a schedule such as \"0 9 * * *\", or {schedule, timeZone}")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ScheduleEntry, E> {
                Ok(ScheduleEntry {
                    schedule: text.to_owned(),
                    time_zone: None,
                })
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                map: M,
            ) -> Result<ScheduleEntry, M::Error> {
                let zoned = Zoned::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ScheduleEntry {
                    schedule: zoned.schedule,
                    time_zone: zoned.time_zone,
                })
            }
        }
        deserializer.deserialize_any(Entry)
    }
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

/// wasmjob extension `spec.overlapPolicy`: Temporal's overlap policies. A
/// time "overlaps" when `maxConcurrentRuns` runs are active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OverlapPolicy {
    /// The time is missed (`concurrencyPolicy: Forbid`).
    Skip,
    /// The time waits, and starts when a run ends; one waits at most, a
    /// later time is missed.
    BufferOne,
    /// Every time waits, and they start in order as runs end.
    BufferAll,
    /// The oldest active runs are stopped within their grace period and
    /// deleted, and the time starts (`concurrencyPolicy: Replace`).
    CancelOther,
    /// As `CancelOther`, but the active runs are stopped at once, without
    /// a grace period.
    TerminateOther,
    /// The time starts whatever runs (`concurrencyPolicy: Allow`); with
    /// `maxConcurrentRuns`, a time past the cap is missed.
    AllowAll,
}

impl OverlapPolicy {
    /// The policy `concurrencyPolicy` means.
    pub fn of(policy: ConcurrencyPolicy) -> OverlapPolicy {
        match policy {
            ConcurrencyPolicy::Allow => OverlapPolicy::AllowAll,
            ConcurrencyPolicy::Forbid => OverlapPolicy::Skip,
            ConcurrencyPolicy::Replace => OverlapPolicy::CancelOther,
        }
    }

    /// Its nearest Kubernetes `concurrencyPolicy`, for clients that know
    /// only that: a buffered time never overlaps, as with `Forbid`.
    pub fn concurrency(self) -> ConcurrencyPolicy {
        match self {
            OverlapPolicy::Skip | OverlapPolicy::BufferOne | OverlapPolicy::BufferAll => {
                ConcurrencyPolicy::Forbid
            }
            OverlapPolicy::CancelOther | OverlapPolicy::TerminateOther => {
                ConcurrencyPolicy::Replace
            }
            OverlapPolicy::AllowAll => ConcurrencyPolicy::Allow,
        }
    }
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
    fn bound(&self, text: &Option<String>) -> Option<crate::time::Micros> {
        let at = text.as_deref()?.parse::<jiff::Timestamp>().ok()?;
        Some(at.as_microsecond())
    }

    /// The overlap policy in effect: `overlapPolicy`, else what
    /// `concurrencyPolicy` means.
    pub fn overlap(&self) -> OverlapPolicy {
        self.overlap_policy.unwrap_or_else(|| {
            OverlapPolicy::of(self.concurrency_policy.unwrap_or(ConcurrencyPolicy::Allow))
        })
    }

    /// `maxConcurrentRuns` in effect: 1 unless given, no cap for
    /// `AllowAll` unless given.
    pub fn max_concurrent(&self) -> Option<usize> {
        match (self.max_concurrent_runs, self.overlap()) {
            (Some(n), _) => Some(n.max(1) as usize),
            (None, OverlapPolicy::AllowAll) => None,
            (None, _) => Some(1),
        }
    }

    /// `startTime` and `endTime`, in microseconds.
    pub fn bounds(&self) -> (Option<crate::time::Micros>, Option<crate::time::Micros>) {
        (self.bound(&self.start_time), self.bound(&self.end_time))
    }

    /// The CronJob's timetable: its schedules, `H` picked for `owner`
    /// (`namespace/name`), jitter derived from `uid`. The spec was
    /// validated when it was loaded.
    pub fn timetable(&self, owner: &str, uid: &str) -> Timetable {
        self.timetable_at("spec", owner, uid)
            .unwrap_or_else(|_| Timetable::new(Vec::new(), 0, uid))
    }

    /// Every schedule, each in its time zone (its own, else `timeZone`);
    /// the field path and problem of the first that is not valid.
    fn timetable_at(&self, path: &str, owner: &str, uid: &str) -> Result<Timetable, FieldError> {
        let zone = |name: Option<&str>, at: String| {
            crate::schedule::time_zone(name).ok_or_else(|| {
                let name = name.unwrap_or_default();
                FieldError::new(
                    at,
                    format!("unknown time zone {name:?}: use an IANA name such as Europe/Berlin"),
                )
            })
        };
        let parse = |text: &str, at: String| {
            Schedule::parse_for(text.trim(), owner).map_err(|e| FieldError::new(at, e.problem))
        };
        let default_zone = zone(self.time_zone.as_deref(), format!("{path}.timeZone"))?;
        let mut entries = Vec::new();
        if !self.schedule.trim().is_empty() {
            entries.push((
                parse(&self.schedule, format!("{path}.schedule"))?,
                default_zone.clone(),
            ));
        }
        for (i, entry) in self.schedules.iter().enumerate() {
            let at = format!("{path}.schedules[{i}]");
            let tz = match &entry.time_zone {
                Some(name) => zone(Some(name), format!("{at}.timeZone"))?,
                None => default_zone.clone(),
            };
            entries.push((parse(&entry.schedule, format!("{at}.schedule"))?, tz));
        }
        Ok(Timetable::new(
            entries,
            self.jitter_seconds.unwrap_or(0),
            uid,
        ))
    }

    /// Fills defaults and checks the values.
    pub fn normalize(&mut self, path: &str) -> Result<(), FieldError> {
        if self.schedule.trim().is_empty() && self.schedules.is_empty() {
            return Err(FieldError::new(
                format!("{path}.schedule"),
                "is required: a cron schedule such as \"*/1 * * * *\" (or spec.schedules)",
            ));
        }
        self.timetable_at(path, "", "")?;
        if let Some(secs) = self.jitter_seconds {
            validate::non_negative(secs).at(&format!("{path}.jitterSeconds"))?;
        }
        if let Some(secs) = self.catchup_window_seconds {
            validate::non_negative(secs).at(&format!("{path}.catchupWindowSeconds"))?;
        }
        if let Some(runs) = self.remaining_runs {
            validate::non_negative(runs).at(&format!("{path}.remainingRuns"))?;
        }
        for (field, text) in [("startTime", &self.start_time), ("endTime", &self.end_time)] {
            if let Some(text) = text
                && text.parse::<jiff::Timestamp>().is_err()
            {
                return Err(FieldError::new(
                    format!("{path}.{field}"),
                    format!("{text:?} is not an RFC 3339 time such as 2026-12-24T18:00:00Z"),
                ));
            }
        }
        if let (Some(start), Some(end)) = (self.bound(&self.start_time), self.bound(&self.end_time))
            && end < start
        {
            return Err(FieldError::new(
                format!("{path}.endTime"),
                "is before spec.startTime: no time would run",
            ));
        }
        if let Some(secs) = self.starting_deadline_seconds {
            validate::non_negative(secs).at(&format!("{path}.startingDeadlineSeconds"))?;
        }
        if let Some(disconnect) = &self.disconnect {
            disconnect.validate(&format!("{path}.disconnect"))?;
        }
        if let Some(runs) = self.max_concurrent_runs
            && runs < 1
        {
            return Err(FieldError::new(
                format!("{path}.maxConcurrentRuns"),
                format!("is {runs}: give 1 or more (leave it out for no cap with AllowAll)"),
            ));
        }
        match self.overlap_policy {
            // The overlap policy decides; clients that know only Kubernetes
            // see its nearest counterpart.
            Some(overlap) => self.concurrency_policy = Some(overlap.concurrency()),
            None => {
                self.concurrency_policy
                    .get_or_insert(ConcurrencyPolicy::Allow);
            }
        }
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
