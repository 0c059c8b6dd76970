//! wasmjob's own metrics: one process-wide set, updated where things happen
//! and read at each scrape. Updating one is an atomic add (a histogram's, a
//! short lock); nothing here takes a lock that a guest's run waits on for
//! long. Off until `serve` turns them on ([`enable`]): `wasmjob run` has no
//! scraper, and its hot path pays one relaxed load per event.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::time::Micros;

type Labels = Vec<(&'static str, String)>;

/// The reasons an attempt ends with (`Outcome::reason`, and `Completed`
/// for a success): their counters are made once, so that counting an end
/// allocates nothing.
const REASONS: [&str; 6] = [
    "Completed",
    "Error",
    "Trapped",
    "OOMKilled",
    "DeadlineExceeded",
    "StartError",
];

struct Own {
    started: Counter<u64, AtomicU64>,
    ended: Family<Labels, Counter<u64, AtomicU64>>,
    ended_by_reason: [Counter<u64, AtomicU64>; REASONS.len()],
    running: Gauge<i64, AtomicI64>,
    duration: Histogram,
    start_latency: Histogram,
    cron_skew: Histogram,
    commit: Histogram,
    memory: Gauge<i64, AtomicI64>,
    watch_reads: Counter<u64, AtomicU64>,
}

fn seconds_buckets() -> Histogram {
    // 1 ms to about 9 hours.
    Histogram::new(exponential_buckets(0.001, 4.0, 12))
}

static OWN: LazyLock<Own> = LazyLock::new(|| {
    let ended: Family<Labels, Counter<u64, AtomicU64>> = Family::default();
    let ended_by_reason = REASONS.map(|reason| {
        ended
            .get_or_create(&vec![("reason", reason.to_owned())])
            .clone()
    });
    Own {
        started: Counter::default(),
        ended,
        ended_by_reason,
        running: Gauge::default(),
        duration: seconds_buckets(),
        start_latency: seconds_buckets(),
        cron_skew: seconds_buckets(),
        // 10 µs to about 2.6 s.
        commit: Histogram::new(exponential_buckets(0.000_01, 4.0, 10)),
        memory: Gauge::default(),
        watch_reads: Counter::default(),
    }
});

/// The registry of the metrics above (made at each scrape: registering is
/// cheap, and the metrics themselves are shared).
pub(super) fn registry() -> Registry {
    let own = &*OWN;
    let mut registry = Registry::default();
    registry.register(
        "wasmjob_instances_started",
        "Attempts of instances started on this node",
        own.started.clone(),
    );
    registry.register(
        "wasmjob_instances_ended",
        "Attempts of instances ended on this node, by reason (Completed, Error, OOMKilled, DeadlineExceeded, Trapped, StartError)",
        own.ended.clone(),
    );
    registry.register(
        "wasmjob_instances_running",
        "Attempts of instances running on this node now",
        own.running.clone(),
    );
    registry.register(
        "wasmjob_instance_duration_seconds",
        "How long attempts of instances ran",
        own.duration.clone(),
    );
    registry.register(
        "wasmjob_instance_start_latency_seconds",
        "From an instance's creation to its first attempt's start",
        own.start_latency.clone(),
    );
    registry.register(
        "cronjob_controller_job_creation_skew_duration_seconds",
        "Time between when a cronjob is scheduled to be run, and when the corresponding job is created",
        own.cron_skew.clone(),
    );
    registry.register(
        "wasmjob_store_commit_duration_seconds",
        "How long a batch commit to the node's store took",
        own.commit.clone(),
    );
    registry.register(
        "wasmjob_instance_memory_bytes",
        "Linear memory held by the instances running on this node",
        own.memory.clone(),
    );
    registry.register(
        "wasmjob_watch_reads",
        "Reads of the store by the API's watches (one per commit or burst of commits, none while nothing changes)",
        own.watch_reads.clone(),
    );
    registry
}

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns the metrics on (`wasmjob serve`).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

fn on() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

fn seconds(micros: Micros) -> f64 {
    micros.max(0) as f64 / 1e6
}

/// An attempt started at `started`; its instance was created at `created`
/// (only a first attempt counts towards start latency).
pub fn instance_started(attempt: u32, created: Micros, started: Micros) {
    if !on() {
        return;
    }
    OWN.started.inc();
    OWN.running.inc();
    if attempt == 0 {
        OWN.start_latency.observe(seconds(started - created));
    }
}

/// An attempt that started ended, for `reason` (`None`: it succeeded).
pub fn instance_ended(reason: Option<&str>, started: Micros, finished: Micros) {
    if !on() {
        return;
    }
    OWN.running.dec();
    let reason = reason.unwrap_or("Completed");
    match REASONS.iter().position(|known| *known == reason) {
        Some(at) => OWN.ended_by_reason[at].inc(),
        None => OWN
            .ended
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc(),
    };
    OWN.duration.observe(seconds(finished - started));
}

/// A CronJob's Job for `scheduled` was created at `created`.
pub fn cronjob_job_created(scheduled: Micros, created: Micros) {
    if !on() {
        return;
    }
    OWN.cron_skew.observe(seconds(created - scheduled));
}

/// A batch commit to the node's store took `took`.
pub fn commit_took(took: std::time::Duration) {
    if !on() {
        return;
    }
    OWN.commit.observe(took.as_secs_f64());
}

/// Running instances' linear memory grew by `bytes`.
pub fn memory_grew(bytes: u64) {
    if !on() {
        return;
    }
    OWN.memory.inc_by(bytes as i64);
}

/// An instance that held `bytes` of linear memory ended.
pub fn memory_released(bytes: u64) {
    if !on() {
        return;
    }
    OWN.memory.dec_by(bytes as i64);
}

/// A watch read the store (it was told of a commit).
pub fn watch_read() {
    if !on() {
        return;
    }
    OWN.watch_reads.inc();
}
