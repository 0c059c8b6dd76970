//! The Job a CronJob creates for a scheduled time, as Kubernetes makes it
//! from `jobTemplate`: named `<cronjob>-<unix minutes>` (seconds for
//! schedules with a seconds field), annotated with the scheduled time,
//! owned by the CronJob.

use std::collections::BTreeMap;

use crate::manifest::well_known::SCHEDULED_ANNOTATION;
use crate::manifest::{CronJob, Job, ObjectMeta, OwnerReference};
use crate::time::Micros;

/// The name of the Job for a scheduled time: `<cronjob>-<unix minutes>`, or
/// seconds for schedules with second granularity.
pub fn job_name(cronjob: &str, scheduled: Micros, seconds: bool) -> String {
    let secs = scheduled.div_euclid(1_000_000);
    if seconds {
        format!("{cronjob}-{secs}")
    } else {
        format!("{cronjob}-{}", secs.div_euclid(60))
    }
}

/// The Job of the CronJob `cron` (uid `cron_uid`) for `scheduled`;
/// `seconds` when its schedule has a seconds field.
pub fn job_from_template(cron: &CronJob, cron_uid: &str, scheduled: Micros, seconds: bool) -> Job {
    let template = &cron.spec.job_template;
    let mut annotations: BTreeMap<String, String> = template.metadata.annotations.clone();
    let at = jiff::Timestamp::from_microsecond(scheduled).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    annotations.insert(
        SCHEDULED_ANNOTATION.to_owned(),
        at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    let metadata = ObjectMeta {
        name: job_name(&cron.metadata.name, scheduled, seconds),
        namespace: cron.metadata.namespace.clone(),
        labels: template.metadata.labels.clone(),
        annotations,
        owner_references: vec![OwnerReference {
            api_version: "batch/v1".into(),
            kind: "CronJob".into(),
            name: cron.metadata.name.clone(),
            uid: cron_uid.to_owned(),
            controller: Some(true),
        }],
        ..ObjectMeta::default()
    };
    let mut spec = template.spec.clone();
    // A run is away with its CronJob's node: it keeps the CronJob's
    // `disconnect` unless its template says otherwise.
    if spec.disconnect.is_none() {
        spec.disconnect.clone_from(&cron.spec.disconnect);
    }
    Job { metadata, spec }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduled_job_is_named_annotated_and_owned() {
        let mut cron = CronJob {
            metadata: ObjectMeta::default(),
            spec: Default::default(),
        };
        cron.metadata.name = "hello".into();
        let job = job_from_template(&cron, "cj-uid", 1_795_000_020 * 1_000_000, false);
        assert_eq!(job.metadata.name, "hello-29916667");
        assert_eq!(
            job.metadata.annotations[SCHEDULED_ANNOTATION],
            "2026-11-18T11:07:00Z"
        );
        let owner = &job.metadata.owner_references[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("CronJob", "cj-uid")
        );
    }

    #[test]
    fn a_run_takes_its_cronjobs_disconnect_unless_its_template_has_one() {
        let mut cron = CronJob {
            metadata: ObjectMeta::default(),
            spec: Default::default(),
        };
        let pinned = crate::manifest::Disconnect {
            replace: Some(false),
            ..Default::default()
        };
        cron.spec.disconnect = Some(pinned.clone());
        let job = job_from_template(&cron, "cj-uid", 0, false);
        assert_eq!(job.spec.disconnect, Some(pinned));
        let own = crate::manifest::Disconnect {
            lost_after: Some("1m".into()),
            ..Default::default()
        };
        cron.spec.job_template.spec.disconnect = Some(own.clone());
        let job = job_from_template(&cron, "cj-uid", 0, false);
        assert_eq!(job.spec.disconnect, Some(own));
    }
}
