//! `wasmjob run -f FILE`: every Job in the files, in this process, to the end.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use super::console::Console;
use super::table;
use super::{CliError, OutputFormat, RunArgs};
use crate::apply::{self, ConfigPlan};
use crate::manifest::{JobStatus, Object, parse_memory_quantity};
use crate::resource;
use crate::runner::{JobRun, Runner, RunnerConfig};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::secrets::Keyring;
use crate::store::{ObjectRecord, Store};
use crate::time::{self, human_duration};

/// The database file inside the state directory.
pub const DATABASE_FILE: &str = "wasmjob.db";

/// Runs every Job of the files to its end; see the module doc.
pub fn run(state_dir: &Path, args: RunArgs) -> Result<(), CliError> {
    let output_limit = parse_memory_quantity(&args.max_log_size)
        .map_err(|e| CliError::BadInput(format!("--max-log-size: {e}")))?
        as usize;
    let sources = super::source::Sources::of(&args.templates)?;
    let docs = sources.load(&args.files)?;
    runnable(&docs)?;
    // ConfigMaps and Secrets are stored before the Jobs that read them run.
    let (configs, docs): (Vec<_>, Vec<_>) =
        (docs.into_iter()).partition(|doc| matches!(doc.object, Object::Config(_)));
    if docs.is_empty() {
        return Err(CliError::BadInput(
            "the manifests hold no Job: `wasmjob run` runs Jobs (store ConfigMaps and Secrets \
             alone with apply -f on a node)"
                .into(),
        ));
    }
    let keyring = Arc::new(Keyring::new(state_dir));
    let shape = Shape::of(&docs);
    let config =
        (args.pool).runtime_config(state_dir.join("cache"), shape.parallelism.clamp(1, 1000))?;
    // Pull secrets come with the manifests run.
    let secrets = apply::pull_secrets_among(&configs);
    let (runtime, mut store, localized) = start(state_dir, config, docs, secrets)?;
    let resolved = apply::resolve(localized, &runtime, &store).map_err(|e| match e {
        apply::ApplyError::Manifest(m) => CliError::BadInput(m.to_string()),
        apply::ApplyError::Store(s) => CliError::Other(s.into()),
    })?;
    store_configs(&mut store, &configs, &keyring)?;
    dependencies_known(&store, &resolved)?;
    let (jobs, expected) = job_runs(&store, &resolved)?;
    let several = expected > 1 || jobs.len() > 1;
    // Instances reach the network only where a stored NetworkPolicy
    // grants it (these files' or an earlier run's).
    let networked = !(store.live_objects(crate::manifest::Kind::NetworkPolicy, None))
        .map_err(other)?
        .is_empty();
    let tokio = executor_threads(&shape, networked)?;
    let node_name = args.node_name.clone().unwrap_or_else(super::host_name);
    let config = RunnerConfig {
        node_name,
        output_limit,
        node_labels: Default::default(),
        node_taints: Vec::new(),
        // `wasmjob run` sizes itself for its Jobs.
        capacity: None,
        resources: Default::default(),
        crash_loop: Default::default(),
        keyring: keyring.clone(),
        allowed_registries: None,
        pod_security: Default::default(),
    };
    // One lane: the Jobs of `run` are all its node runs.
    let lanes = crate::executor::Lanes::one(tokio.handle().clone());
    let mut runner = Runner::new(store, runtime.clone(), lanes, config).map_err(other)?;
    runner.add(jobs).map_err(other)?;
    let structured = args.output.is_some();
    let mut console = Console::new(expected, several, args.quiet || structured);
    let uids = runner.run(&mut console).map_err(other)?;
    console.finish();
    if shape.expiring {
        runner.store().delete_expired(time::now()).map_err(other)?;
    }
    let report = Report::of(runner.store(), &uids, structured)?;
    // The process ends with this command, and the engine (its pool's
    // reservations) and the executor's threads go with it. Shutting them
    // down first, joining the threads and unmapping the pool while they
    // still ran on the other core, was a quarter of a millisecond of a
    // short run. The store still closes as usual, with the runner.
    std::mem::forget(tokio);
    std::mem::forget(runtime);
    let outcome = report.print(args.output);
    // Everything is written; the exit closes the connection.
    runner.into_store().close_at_exit();
    outcome
}

fn other(e: impl Into<anyhow::Error>) -> CliError {
    CliError::Other(e.into())
}

/// Stores the ConfigMaps and Secrets of a run (all or nothing), as an
/// apply does.
fn store_configs(
    store: &mut Store,
    configs: &[crate::manifest::Document],
    keyring: &Keyring,
) -> Result<(), CliError> {
    let now = time::now();
    let mut writes = Vec::new();
    for doc in configs {
        let Object::Config(config) = &doc.object else {
            continue;
        };
        let meta = &config.metadata;
        let existing =
            (store.live_object(config.kind, &meta.namespace, &meta.name)).map_err(other)?;
        match apply::plan_config(config, existing.as_ref(), keyring, now) {
            Ok(ConfigPlan::Create(write) | ConfigPlan::Configure(write)) => writes.push(write),
            Ok(ConfigPlan::Unchanged) => {}
            Err((field, message)) => {
                return Err(CliError::BadInput(format!(
                    "{}: document {}: {field}: {message}",
                    doc.file, doc.index
                )));
            }
        }
    }
    store.commit(&writes).map_err(other)
}

/// `wasmjob run` runs Jobs, and only Jobs that will run: one suspended
/// would wait for ever, and CronJobs and DaemonSets need a node.
/// ConfigMaps and Secrets are stored for the Jobs to read.
fn runnable(docs: &[crate::manifest::Document]) -> Result<(), CliError> {
    for doc in docs {
        if let Object::Job(job) = &doc.object
            && job.spec.suspended()
        {
            return Err(CliError::BadInput(format!(
                "{}: document {}: spec.suspend: Job {:?} is suspended, so `wasmjob run` would \
                 wait for ever; set suspend: false to run it",
                doc.file, doc.index, job.metadata.name
            )));
        }
        if let Object::Job(job) = &doc.object
            && let Some(name) = job.spec.template.spec.extended_resources().keys().next()
        {
            return Err(CliError::BadInput(format!(
                "{}: document {}: Job {:?} asks for {name}, which only a node started with \
                 serve --resources has: apply it to such a node",
                doc.file, doc.index, job.metadata.name
            )));
        }
        if !matches!(doc.object, Object::Job(_) | Object::Config(_)) {
            let what = doc.object.kind().as_str();
            let name = &doc.object.metadata().name;
            return Err(CliError::BadInput(format!(
                "{}: document {}: {what} {name:?}: `wasmjob run` runs Jobs only; \
                 CronJobs and DaemonSets need a long-running node",
                doc.file, doc.index
            )));
        }
    }
    Ok(())
}

/// What the Jobs of a run need of the process.
struct Shape {
    /// Modules that may run at once, over every Job (an instance of
    /// several containers counts each).
    parallelism: u32,
    /// A work queue on a broker (Redis, RabbitMQ), or `wasi:keyvalue` in
    /// Redis, needs sockets.
    brokers: bool,
    /// A Job of this run whose TTL is over when it ends
    /// (`ttlSecondsAfterFinished: 0`) is deleted before the command
    /// returns; other objects whose TTL runs out meanwhile go at the next
    /// command's start.
    expiring: bool,
}

impl Shape {
    fn of(docs: &[crate::manifest::Document]) -> Shape {
        let jobs = || {
            docs.iter().filter_map(|d| match &d.object {
                Object::Job(job) => Some(job),
                _ => None,
            })
        };
        Shape {
            // An instance of several containers runs several modules at once.
            parallelism: jobs()
                .map(|job| {
                    let pod = &job.spec.template.spec;
                    let modules = (pod.init_containers.len() + pod.containers.len()) as u32;
                    job.spec.parallelism().max(1) * modules.max(1)
                })
                .sum(),
            // A broker of the work queue, or a Redis of wasi:keyvalue.
            brokers: jobs().any(|job| {
                let annotations = &job.spec.template.metadata.annotations;
                job.spec.queue.as_ref().is_some_and(|q| q.url.is_some())
                    || annotations.contains_key(crate::manifest::well_known::KEYVALUE_URL)
            }),
            expiring: jobs().any(|job| job.spec.ttl_seconds_after_finished.is_some()),
        }
    }
}

/// The runs of the admitted Jobs (one an earlier run of the same manifest
/// left unfinished is resumed), and how many instances they expect.
fn job_runs(store: &Store, resolved: &[apply::Resolved]) -> Result<(Vec<JobRun>, u64), CliError> {
    let now = time::now();
    apply::store_modules(store, resolved, now).map_err(other)?;
    let mut jobs = Vec::new();
    let mut expected = 0u64;
    for r in resolved {
        let Object::Job(job) = &r.document.object else {
            continue;
        };
        let prepared = r.prepared.clone();
        expected += u64::from(job.spec.completions().unwrap_or(job.spec.parallelism()));
        jobs.push(match interrupted(store, job)? {
            Some(record) => {
                let instances = store.instances_of(&record.uid).map_err(other)?;
                let run = JobRun::resume(record, job.clone(), prepared, instances, now, None);
                let (succeeded, failed) = run.recorded_counts();
                eprintln!(
                    "job.batch/{} resumed: an earlier run stopped before it finished \
                     ({succeeded} succeeded, {failed} failed so far)",
                    job.metadata.name
                );
                run
            }
            None => JobRun::new(job.clone(), prepared, now),
        });
    }
    Ok((jobs, expected))
}

/// The executor's threads: no more than instances may run at once — a Job
/// of one instance starts one thread, not one per core (and does not read
/// the cgroup's CPU quota to learn how many cores there are).
fn executor_threads(shape: &Shape, networked: bool) -> Result<tokio::runtime::Runtime, CliError> {
    let workers = match shape.parallelism {
        0 | 1 => 1,
        n => (n as usize).min(std::thread::available_parallelism().map_or(1, |c| c.get())),
    };
    let mut tokio = tokio::runtime::Builder::new_multi_thread();
    tokio
        .worker_threads(workers)
        .enable_time()
        .thread_name("wasmjob-exec")
        // The runner, on this thread, gets a core first (see `priority`).
        .on_thread_start(|| {
            crate::priority::lower_this_thread();
        });
    // Sockets only for a work queue on a broker (Redis, RabbitMQ) or the
    // egress a NetworkPolicy grants: the I/O driver and its signal pipe
    // cost a one-instance run a twentieth of its start.
    if shape.brokers || networked {
        tokio.enable_io();
    }
    tokio.build().map_err(other)
}

/// What a run prints when its Jobs have ended.
struct Report {
    /// Each Job's record and status, in order.
    summaries: Vec<(ObjectRecord, JobStatus)>,
    /// `-o json|yaml`: the Jobs, then their instances.
    items: Vec<serde_json::Value>,
}

impl Report {
    fn of(store: &Store, uids: &[String], structured: bool) -> Result<Report, CliError> {
        let mut summaries = Vec::new();
        let mut items = Vec::new();
        let mut instances = Vec::new();
        for uid in uids {
            let record = store
                .object(uid)
                .map_err(other)?
                .expect("a Job just run is stored");
            let status: JobStatus =
                serde_json::from_value(record.status.clone()).unwrap_or_default();
            if structured {
                // Only `-o json|yaml` lists the instances.
                let owned = store.instances_of(uid).map_err(other)?;
                instances.extend(owned.iter().map(|i| resource::instance_json(i, &record)));
                items.push(resource::object_json(&record));
            }
            summaries.push((record, status));
        }
        items.extend(instances);
        Ok(Report { summaries, items })
    }

    /// Prints the report as `format` asks; the run's outcome: exit 0 when
    /// every Job is Complete, 1 naming those that failed.
    fn print(self, format: Option<OutputFormat>) -> Result<(), CliError> {
        let outcome = self.outcome();
        let mut stdout = std::io::stdout().lock();
        let list = || resource::list_json(self.items);
        let _ = match format {
            Some(OutputFormat::Json) => {
                let text = serde_json::to_string_pretty(&list()).expect("JSON");
                writeln!(stdout, "{text}")
            }
            Some(OutputFormat::Yaml) => {
                write!(
                    stdout,
                    "{}",
                    serde_yaml_ng::to_string(&list()).expect("YAML")
                )
            }
            None => {
                let rows: Vec<Vec<String>> = self
                    .summaries
                    .iter()
                    .map(|(r, s)| summary_row(r, s))
                    .collect();
                let header = ["NAME", "STATUS", "COMPLETIONS", "DURATION"];
                write!(stdout, "{}", table::render(&header, &rows))
            }
        };
        outcome
    }

    fn outcome(&self) -> Result<(), CliError> {
        let failed: Vec<&str> = self
            .summaries
            .iter()
            .filter(|(_, s)| s.phase() == "Failed")
            .map(|(r, _)| r.name.as_str())
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        Err(CliError::Failed(format!(
            "Job failed: {}",
            failed.join(", ")
        )))
    }
}

/// The engine, the store, and the documents with their modules read. A
/// thread of its own reads the modules and then opens the store (and runs
/// the TTL pass), while this one builds the engine, hashes the modules and
/// loads them from the compiled-module cache (or compiles them) and links
/// them: both take a few tenths of a millisecond, most of a short run's own
/// work. The store's side is the longer, so the hashing is done here.
///
/// The other thread reads the modules itself, rather than waiting for this
/// one to say they are read, so that it runs from start to end without
/// being woken: a thread woken by one running here was queued behind it on
/// this core (Linux 6.18 on two cores, the other core idle) and opened the
/// store only once this one waited for it, a sixth of a run in series
/// (docs/PERFORMANCE.md). The engine is built here, not on the other
/// thread, because a thread just created may be queued on its parent's core
/// until the scheduler next balances: the longer half of the start runs
/// where it cannot wait for that. The store is opened only once the modules
/// are read, so that a manifest naming a missing module leaves the state
/// directory untouched.
fn start(
    state_dir: &Path,
    config: RuntimeConfig,
    docs: Vec<crate::manifest::Document>,
    secrets: Vec<(String, String, Vec<u8>)>,
) -> Result<(Arc<Runtime>, Store, Vec<apply::Localized>), CliError> {
    let database = state_dir.join(DATABASE_FILE);
    let (read, modules) = std::sync::mpsc::channel();
    // The store comes back through a channel rather than the thread's join,
    // which waited for the thread to finish exiting as well.
    let (done, opened) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("wasmjob-store".into())
        .spawn(move || {
            let lookup =
                |namespace: &str, name: &str| apply::pull_secret_in(&secrets, namespace, name);
            let read_images = docs
                .into_iter()
                .map(|doc| apply::read_image(doc, &lookup, None))
                .collect::<Result<Vec<_>, _>>();
            let ok = read_images.is_ok();
            let _ = read.send(read_images);
            if !ok {
                // A module could not be read: nothing is opened.
                return;
            }
            let store = Store::open(&database).and_then(|store| {
                // The TTL controller: Jobs whose ttlSecondsAfterFinished ran
                // out since wasmjob last ran are deleted now (their history
                // stays).
                store.delete_expired(time::now())?;
                Ok(store)
            });
            let _ = done.send(store);
        })
        .map_err(|e| CliError::Other(e.into()))?;
    let runtime = Runtime::new(config).map_err(|e| CliError::Other(e.into()))?;
    let localized: Vec<apply::Localized> = modules
        .recv()
        .map_err(|_| CliError::Other(anyhow::anyhow!("the store's thread panicked")))?
        .map_err(|e| CliError::BadInput(e.to_string()))?
        .into_iter()
        .map(apply::name_by_digest)
        .collect();
    for blob in localized.iter().flat_map(|(_, blobs)| blobs) {
        // Prepared now, while the store opens on the other thread;
        // resolving the documents below finds them in the runtime's
        // cache. One that cannot be prepared is reported there, when it
        // is prepared again.
        let _ = runtime.prepare(&blob.digest, &blob.bytes);
    }
    let store = opened
        .recv()
        .map_err(|_| CliError::Other(anyhow::anyhow!("the store's thread panicked")))?
        .map_err(|e| CliError::Other(e.into()))?;
    Ok((Arc::new(runtime), store, localized))
}

/// The unfinished Job an earlier, interrupted `wasmjob run` of this same
/// manifest left behind, if any: running the same command again resumes it
/// instead of starting over. A different manifest of the same name replaces it.
fn interrupted(
    store: &Store,
    job: &crate::manifest::Job,
) -> Result<Option<crate::store::ObjectRecord>, CliError> {
    let found = store
        .live_object(
            crate::manifest::Kind::Job,
            &job.metadata.namespace,
            &job.metadata.name,
        )
        .map_err(|e| CliError::Other(e.into()))?;
    Ok(found.filter(|record| {
        let status: JobStatus = serde_json::from_value(record.status.clone()).unwrap_or_default();
        !status.is_finished() && record.manifest == crate::runner::manifest_json(job)
    }))
}

fn summary_row(record: &crate::store::ObjectRecord, status: &JobStatus) -> Vec<String> {
    let completions = match record.manifest["spec"]["completions"].as_u64() {
        Some(n) => format!("{}/{n}", status.succeeded),
        None => format!(
            "{}/1 of {}",
            status.succeeded, record.manifest["spec"]["parallelism"]
        ),
    };
    let duration = match (&status.start_time, status.conditions.last()) {
        (Some(start), Some(end)) => micros_between(start, &end.last_transition_time)
            .map(human_duration)
            .unwrap_or_default(),
        _ => String::new(),
    };
    vec![
        record.name.clone(),
        status.phase().to_owned(),
        completions,
        duration,
    ]
}

fn micros_between(start: &str, end: &str) -> Option<i64> {
    let start: jiff::Timestamp = start.parse().ok()?;
    let end: jiff::Timestamp = end.parse().ok()?;
    Some(end.as_microsecond() - start.as_microsecond())
}

/// `dependsOn` in a run: each named Job is one of the run's or already
/// stored, and none waits for itself — otherwise the run would wait
/// forever, so it is refused (exit 2) naming the field.
fn dependencies_known(store: &Store, resolved: &[apply::Resolved]) -> Result<(), CliError> {
    let jobs: Vec<(&crate::manifest::Document, &crate::manifest::Job)> = (resolved.iter())
        .filter_map(|r| match &r.document.object {
            Object::Job(job) => Some((&r.document, job)),
            _ => None,
        })
        .collect();
    let stored = |namespace: &str, name: &str| {
        let found = store.live_object(crate::manifest::Kind::Job, namespace, name);
        found.ok().flatten()
    };
    for (doc, job) in &jobs {
        let namespace = &job.metadata.namespace;
        let edges = |name: &str| -> Vec<String> {
            let mine = jobs
                .iter()
                .find(|(_, j)| j.metadata.name == name && &j.metadata.namespace == namespace);
            match (mine, stored(namespace, name)) {
                (Some((_, j)), _) => j.spec.depends_on.iter().map(|d| d.name.clone()).collect(),
                (None, Some(record)) => crate::manifest::depends_on_names(&record.manifest),
                (None, None) => Vec::new(),
            }
        };
        if let Some(path) = crate::controller::job::depends::cycle(&job.metadata.name, edges) {
            let (field, message) =
                crate::controller::job::depends::cycle_refusal(&job.spec.depends_on, &path);
            let error = crate::manifest::FieldError::new(field, message);
            return Err(CliError::BadInput(doc.error(error).to_string()));
        }
        for (i, dependency) in job.spec.depends_on.iter().enumerate() {
            let name = &dependency.name;
            let in_run = jobs
                .iter()
                .any(|(_, j)| &j.metadata.name == name && &j.metadata.namespace == namespace);
            // A stored Job only counts once it has ended: nothing else
            // would run it while this run waits.
            let ended = stored(namespace, name).is_some_and(|record| {
                let status = serde_json::from_value::<crate::manifest::JobStatus>(record.status);
                status.is_ok_and(|s| s.is_finished())
            });
            if !in_run && !ended {
                let error = crate::manifest::FieldError::new(
                    format!("spec.dependsOn[{i}].name"),
                    format!(
                        "job {name:?} is neither in this run nor a finished stored Job: wasmjob \
                         run would wait for it forever (run it too, or apply both to a node)"
                    ),
                );
                return Err(CliError::BadInput(doc.error(error).to_string()));
            }
        }
    }
    Ok(())
}
