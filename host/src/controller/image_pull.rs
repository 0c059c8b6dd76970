//! Image pulls a node retries: a Job whose registry image could not be
//! pulled at apply waits, as a Kubernetes Pod does, in `ErrImagePull` and
//! then `ImagePullBackOff`, its node trying again after a back-off of 10 s
//! that doubles up to 5 min (the kubelet's). These are the rules: when
//! the next try is, what the Job's status and events say meanwhile, and
//! which of a CronJob's images each scheduled run resolves again
//! ([`resolve_per_run`]).

use super::Event;
use crate::apply::IMAGE_ID_PREFIX;
use crate::manifest::{Condition, Job, JobStatus};
use crate::oci::PullPolicy;
use crate::time::Micros;

/// The first back-off: 10 s, as the kubelet's image back-off.
pub const FIRST_BACK_OFF: Micros = 10_000_000;

/// The longest back-off: 5 min.
pub const MAX_BACK_OFF: Micros = 300_000_000;

/// The condition a waiting Job carries (`False` until its image is pulled).
pub const CONDITION: &str = "ImagePulled";

/// The condition a Job carries while its large module compiles off the
/// node's loop (`False` until it is ready).
pub const COMPILED: &str = "Compiled";

/// The reason while it compiles.
pub const COMPILING: &str = "Compiling";

/// The reason of the first failed pull.
pub const ERR_IMAGE_PULL: &str = "ErrImagePull";

/// The reason of a module that is there but cannot run as it is (it does
/// not compile or link, or asks for too much memory): a Pod's
/// `CreateContainerError`, waited out the same way.
pub const CREATE_CONTAINER_ERROR: &str = "CreateContainerError";

/// The reason while the node waits to try again.
pub const IMAGE_PULL_BACK_OFF: &str = "ImagePullBackOff";

/// How long to wait after `failures` failed pulls in a row (at least one).
pub fn back_off(failures: u32) -> Micros {
    let doublings = failures.saturating_sub(1).min(16);
    (FIRST_BACK_OFF << doublings).min(MAX_BACK_OFF)
}

/// What a failed pull decides: when to try again, the events, and the
/// Job's status while it waits.
#[derive(Debug, Clone, PartialEq)]
pub struct Failed {
    /// When the next pull starts.
    pub next_try: Micros,
    /// `ErrImagePull` with the registry's message, then `ImagePullBackOff`.
    pub events: Vec<Event>,
    /// The Job's status: no instance yet, an `ImagePulled=False` condition.
    pub status: JobStatus,
}

/// The `failures`-th failed pull in a row of `image`, at `now`, for
/// `reason` (`ErrImagePull`, `ErrImageNeverPull`, `CreateContainerError`),
/// the registry having said `message`.
pub fn failed(image: &str, (reason, message): (&str, &str), failures: u32, now: Micros) -> Failed {
    let wait = back_off(failures);
    let seconds = wait / 1_000_000;
    let said = match reason == CREATE_CONTAINER_ERROR {
        false => format!("Failed to pull image {image:?}: {message}"),
        true => format!("Failed to create an instance of {image}: {message}"),
    };
    let events = vec![
        Event::warning(reason, said.clone()),
        Event::warning(
            IMAGE_PULL_BACK_OFF,
            format!("Back-off pulling image {image:?}: next try in {seconds}s"),
        ),
    ];
    // As a Pod's container: the error right after the first failure, the
    // back-off from the second.
    let shown = match failures {
        0 | 1 => reason,
        _ => IMAGE_PULL_BACK_OFF,
    };
    let mut condition = Condition::new(CONDITION, shown, &said, now);
    condition.status = "False".to_owned();
    let status = JobStatus {
        conditions: vec![condition],
        ..JobStatus::default()
    };
    Failed {
        next_try: now + wait,
        events,
        status,
    }
}

/// The event of a pull that succeeded: the image and the digest it pins.
pub fn pulled(pinned: &str) -> Event {
    Event::normal("Pulled", format!("Successfully pulled image {pinned:?}"))
}

/// The status of a Job whose module compiles off the node's loop, from
/// `now`: no instance yet, a `Compiled=False` condition.
pub fn compiling(now: Micros) -> JobStatus {
    let message = "the module compiles off the node's loop: instances start when it is ready";
    let mut condition = Condition::new(COMPILED, COMPILING, message, now);
    condition.status = "False".to_owned();
    JobStatus {
        conditions: vec![condition],
        ..JobStatus::default()
    }
}

/// The event of a module compiled off the loop in `millis`.
pub fn compiled(digest: &str, millis: u128) -> Event {
    Event::normal(
        "Compiled",
        format!("Compiled module {digest} in {millis}ms"),
    )
}

/// The reason a waiting Job's status shows (for `get jobs`), if it waits
/// for its image or its module's compile.
pub fn waiting_reason(status: &JobStatus) -> Option<&str> {
    let waiting =
        |c: &&Condition| (c.kind == CONDITION || c.kind == COMPILED) && c.status == "False";
    let condition = status.conditions.iter().find(waiting)?;
    Some(condition.reason.as_str())
}

/// A Job made from a CronJob's template, for one scheduled run: as a
/// kubelet resolves each Pod's image by its `imagePullPolicy`, a container
/// pulled `Always` (as written, or by default for `:latest` or no tag)
/// names its image again by tag, its pin dropped, so the node resolves it
/// for this run (see `runner::pulls`); `IfNotPresent` and `Never` keep the
/// digest pinned at apply, which is what this node's cache holds for the
/// tag. (The pin does not keep whether a digest was written: an image
/// written as `repo:tag@sha256:…` with `Always` is resolved by its tag.
/// Its default, `IfNotPresent`, keeps the digest.)
pub fn resolve_per_run(job: &mut Job) {
    let template = &mut job.spec.template;
    let annotations = &mut template.metadata.annotations;
    for container in template.spec.all_containers_mut() {
        let key = format!("{IMAGE_ID_PREFIX}{}", container.name);
        let Some(pinned) = annotations.get(&key) else {
            continue;
        };
        let Some((by_tag, _digest)) = pinned.rsplit_once('@') else {
            continue;
        };
        let Ok(reference) = crate::oci::normalize(by_tag) else {
            continue;
        };
        let policy =
            (container.image_pull_policy).unwrap_or_else(|| PullPolicy::default_for(&reference));
        if policy == PullPolicy::Always {
            container.image = by_tag.to_owned();
            annotations.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_starts_at_ten_seconds_and_doubles_to_five_minutes() {
        let seconds: Vec<Micros> = (1..=8).map(|n| back_off(n) / 1_000_000).collect();
        assert_eq!(seconds, [10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(back_off(u32::MAX), MAX_BACK_OFF);
        assert_eq!(back_off(0), FIRST_BACK_OFF);
    }

    #[test]
    fn the_first_failure_is_err_image_pull_and_later_ones_back_off() {
        let now = 1_000_000;
        let why = (ERR_IMAGE_PULL, "manifest unknown");
        let first = failed("r/x:1", why, 1, now);
        assert_eq!(first.next_try, now + 10_000_000);
        assert_eq!(waiting_reason(&first.status), Some(ERR_IMAGE_PULL));
        assert_eq!(first.events[0].reason, ERR_IMAGE_PULL);
        assert_eq!(
            first.events[0].message,
            "Failed to pull image \"r/x:1\": manifest unknown"
        );
        assert_eq!(
            first.events[1].message,
            "Back-off pulling image \"r/x:1\": next try in 10s"
        );
        let third = failed("r/x:1", why, 3, now);
        assert_eq!(third.next_try, now + 40_000_000);
        assert_eq!(waiting_reason(&third.status), Some(IMAGE_PULL_BACK_OFF));
        // No instance ran: the counts stay zero and there is no start time.
        assert_eq!(third.status.active + third.status.failed, 0);
        assert!(third.status.start_time.is_none());
    }

    fn cron_job(image_pull_policy: &str, pinned: &str) -> Job {
        let yaml = format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: run\nspec:\n  template:\n    \
             metadata:\n      annotations:\n        image.wasmjob.dev/main: {pinned}\n    spec:\n      \
             restartPolicy: Never\n      containers:\n      - name: main\n        image: \
             sha256:{}\n{image_pull_policy}",
            "a".repeat(64)
        );
        let docs = crate::manifest::load_str(&yaml, "job.yaml", std::path::Path::new("/"))
            .expect("a valid Job");
        match docs.into_iter().next().map(|d| d.object) {
            Some(crate::manifest::Object::Job(job)) => job,
            _ => panic!("a Job"),
        }
    }

    #[test]
    fn a_cron_run_resolves_again_only_what_is_pulled_always() {
        let digest = format!("sha256:{}", "b".repeat(64));
        let latest = format!("r.example:5000/demo/hello:latest@{digest}");
        let tagged = format!("r.example:5000/demo/hello:1.0@{digest}");
        // `:latest` pulls Always by default: the run names the tag again.
        let mut job = cron_job("", &latest);
        resolve_per_run(&mut job);
        let container = &job.spec.template.spec.containers[0];
        assert_eq!(container.image, "r.example:5000/demo/hello:latest");
        assert!(job.spec.template.metadata.annotations.is_empty());
        // A tag is IfNotPresent by default: the pinned digest stays.
        let mut job = cron_job("", &tagged);
        resolve_per_run(&mut job);
        assert!(
            job.spec.template.spec.containers[0]
                .image
                .starts_with("sha256:")
        );
        // Unless the container says Always; Never keeps the pin.
        let always = "        imagePullPolicy: Always\n";
        let mut job = cron_job(always, &tagged);
        resolve_per_run(&mut job);
        let container = &job.spec.template.spec.containers[0];
        assert_eq!(container.image, "r.example:5000/demo/hello:1.0");
        let mut job = cron_job("        imagePullPolicy: Never\n", &latest);
        resolve_per_run(&mut job);
        assert!(
            job.spec.template.spec.containers[0]
                .image
                .starts_with("sha256:")
        );
    }

    #[test]
    fn a_never_pull_keeps_its_own_reason_first() {
        let never = failed("r/x:1", ("ErrImageNeverPull", "not here"), 1, 0);
        assert_eq!(waiting_reason(&never.status), Some("ErrImageNeverPull"));
        assert_eq!(never.events[0].reason, "ErrImageNeverPull");
        let later = failed("r/x:1", ("ErrImageNeverPull", "not here"), 2, 0);
        assert_eq!(waiting_reason(&later.status), Some(IMAGE_PULL_BACK_OFF));
    }

    #[test]
    fn a_job_without_the_condition_waits_for_nothing() {
        assert_eq!(waiting_reason(&JobStatus::default()), None);
        assert_eq!(waiting_reason(&compiling(0)), Some(COMPILING));
    }
}
