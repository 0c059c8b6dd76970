//! The labels and annotations Kubernetes defines for batch and apps objects,
//! spelled once. Which object gets which is a controller's rule
//! ([`crate::controller`]); the keys are part of the object model, so the
//! store and the API can read them too.

/// The labels naming the Job of an instance (`job-name`, and the same under
/// `batch.kubernetes.io/`).
pub const JOB_NAME: [&str; 2] = ["job-name", "batch.kubernetes.io/job-name"];

/// The labels carrying the uid of the object that controls an instance.
pub const CONTROLLER_UID: [&str; 2] = ["controller-uid", "batch.kubernetes.io/controller-uid"];

/// An Indexed Job's instance's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// The annotation Kubernetes puts on a CronJob's Jobs: the scheduled time.
pub const SCHEDULED_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// The label carrying the template revision a DaemonSet's instance runs.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// Why a CronJob is paused (`wasmjob cron pause --note`, or its
/// `spec.pauseOnFailure`): shown by `get cronjobs` and `describe`, and
/// removed by `wasmjob cron resume`.
pub const PAUSE_NOTE: &str = "wasmjob.dev/pause-note";

/// A scheduled time (RFC 3339) a CronJob passes over: `wasmjob cron
/// trigger --skip-next` runs it now instead.
pub const SKIP_NEXT: &str = "wasmjob.dev/skip-next";

/// A backfill asked of a CronJob (JSON: `from`, `to`, `overlap`, `rerun`,
/// `id`): `wasmjob cronjob backfill` sets it, and the node that holds the
/// CronJob acts on each new value once (see
/// [`crate::controller::cronjob::backfill`]).
pub const BACKFILL: &str = "wasmjob.dev/backfill";

/// A template annotation naming the Redis (`redis://HOST:PORT/DB`,
/// `rediss://…`) whose buckets its instances' `wasi:keyvalue` uses, shared
/// by every node; without it each node keeps its own in its file.
pub const KEYVALUE_URL: &str = "wasmjob.dev/keyvalue-url";

/// Checks a [`KEYVALUE_URL`] value.
pub fn check_keyvalue_url(url: &str) -> Result<(), String> {
    let scheme_ok = url.starts_with("redis://") || url.starts_with("rediss://");
    let host = url.split_once("://").map_or("", |(_, rest)| rest);
    if !scheme_ok || host.is_empty() || host.starts_with('/') {
        return Err(format!(
            "must be a Redis URL (redis://HOST:PORT or rediss://HOST:PORT), got {url:?}"
        ));
    }
    Ok(())
}
