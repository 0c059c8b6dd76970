//! `wasmjob run -f FILE`: every Job in the files, in this process, to the end.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use super::table;
use super::{CliError, OutputFormat, RunArgs};
use crate::apply;
use crate::manifest::{JobStatus, Object, Phase, parse_memory_quantity};
use crate::resource;
use crate::runner::{JobRun, Observer, Runner, RunnerConfig};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::{InstanceRecord, Store};
use crate::time::{self, human_duration};

/// The database file inside the state directory.
pub const DATABASE_FILE: &str = "wasmjob.db";

pub fn run(state_dir: &Path, args: RunArgs) -> Result<(), CliError> {
    let output_limit = parse_memory_quantity(&args.max_log_size)
        .map_err(|e| CliError::BadInput(format!("--max-log-size: {e}")))?
        as usize;
    let sources =
        super::source::Sources::new(&args.templates.sets, args.templates.expand.as_deref())?;
    let docs = sources.load(&args.files)?;
    for doc in &docs {
        if let Object::Job(job) = &doc.object
            && job.spec.suspended()
        {
            return Err(CliError::BadInput(format!(
                "{}: document {}: spec.suspend: Job {:?} is suspended, so `wasmjob run` would \
                 wait for ever; set suspend: false to run it",
                doc.file, doc.index, job.metadata.name
            )));
        }
        if !matches!(doc.object, Object::Job(_)) {
            let what = doc.object.kind().as_str();
            let name = &doc.object.metadata().name;
            return Err(CliError::BadInput(format!(
                "{}: document {}: {what} {name:?}: `wasmjob run` runs Jobs only; \
                 CronJobs and DaemonSets need a long-running node",
                doc.file, doc.index
            )));
        }
    }

    let parallelism: u32 = docs
        .iter()
        .map(|d| match &d.object {
            Object::Job(job) => job.spec.parallelism().max(1),
            _ => 0,
        })
        .sum();
    // A Job of this run whose TTL is over when it ends (ttlSecondsAfterFinished:
    // 0) is deleted before the command returns; other objects whose TTL runs
    // out meanwhile go at the next command's start.
    let brokers = docs.iter().any(|d| {
        matches!(&d.object, Object::Job(job) if job.spec.queue.as_ref().is_some_and(|q| q.url.is_some()))
    });
    let expiring = docs.iter().any(
        |d| matches!(&d.object, Object::Job(job) if job.spec.ttl_seconds_after_finished.is_some()),
    );
    let config = RuntimeConfig {
        cache_dir: Some(state_dir.join("cache")),
        max_instances: parallelism.clamp(1, 1000),
    };
    let (runtime, store, localized) = start(state_dir, config, docs)?;
    let resolved = apply::resolve(localized, &runtime, &store).map_err(|e| match e {
        apply::ApplyError::Manifest(m) => CliError::BadInput(m.to_string()),
        apply::ApplyError::Store(s) => CliError::Other(s.into()),
    })?;

    let now = time::now();
    apply::store_modules(&store, &resolved, now).map_err(|e| CliError::Other(e.into()))?;
    let mut jobs = Vec::new();
    let mut expected = 0u64;
    for r in &resolved {
        if let Object::Job(job) = &r.document.object {
            let prepared = r.prepared.clone();
            expected += u64::from(job.spec.completions().unwrap_or(job.spec.parallelism()));
            jobs.push(match interrupted(&store, job)? {
                Some(record) => {
                    let instances = store
                        .instances_of(&record.uid)
                        .map_err(|e| CliError::Other(e.into()))?;
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
    }
    let several = expected > 1 || jobs.len() > 1;

    // No more executor threads than instances may run at once: a Job of
    // one instance starts one thread, not one per core (and does not read
    // the cgroup's CPU quota to learn how many cores there are).
    let workers = match parallelism {
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
    // Sockets only for a work queue on a broker (Redis, RabbitMQ): the I/O
    // driver and its signal pipe cost a one-instance run a twentieth of
    // its start.
    if brokers {
        tokio.enable_io();
    }
    let tokio = tokio.build().map_err(|e| CliError::Other(e.into()))?;
    let node_name = args.node_name.clone().unwrap_or_else(super::host_name);
    let mut runner = Runner::new(
        store,
        runtime.clone(),
        tokio.handle().clone(),
        RunnerConfig {
            node_name,
            output_limit,
            node_labels: Default::default(),
            crash_loop: Default::default(),
        },
    )
    .map_err(|e| CliError::Other(e.into()))?;
    runner.add(jobs).map_err(|e| CliError::Other(e.into()))?;

    let structured = args.output.is_some();
    let mut console = Console::new(expected, several, args.quiet || structured);
    let uids = runner
        .run(&mut console)
        .map_err(|e| CliError::Other(e.into()))?;
    console.write_out();
    console.progress.finish_and_clear();

    let store = runner.store();
    if expiring {
        store
            .delete_expired(time::now())
            .map_err(|e| CliError::Other(e.into()))?;
    }
    let mut summaries = Vec::new();
    let mut items = Vec::new();
    let mut instances = Vec::new();
    for uid in &uids {
        let record = store
            .object(uid)
            .map_err(|e| CliError::Other(e.into()))?
            .expect("a Job just run is stored");
        let status: JobStatus = serde_json::from_value(record.status.clone()).unwrap_or_default();
        if structured {
            // Only `-o json|yaml` lists the instances.
            let owned = store
                .instances_of(uid)
                .map_err(|e| CliError::Other(e.into()))?;
            instances.extend(owned.iter().map(|i| resource::instance_json(i, &record)));
            items.push(resource::object_json(&record));
        }
        summaries.push((record, status));
    }
    // The process ends with this command, and the engine (its pool's
    // reservations) and the executor's threads go with it. Shutting them
    // down first, joining the threads and unmapping the pool while they
    // still ran on the other core, was a quarter of a millisecond of a
    // short run. The store still closes as usual, with the runner.
    std::mem::forget(tokio);
    std::mem::forget(runtime);

    let mut stdout = std::io::stdout().lock();
    match args.output {
        Some(OutputFormat::Json) => {
            items.extend(instances);
            let text = serde_json::to_string_pretty(&resource::list_json(items)).expect("JSON");
            let _ = writeln!(stdout, "{text}");
        }
        Some(OutputFormat::Yaml) => {
            items.extend(instances);
            let text = serde_yaml_ng::to_string(&resource::list_json(items)).expect("YAML");
            let _ = write!(stdout, "{text}");
        }
        None => {
            let rows: Vec<Vec<String>> = summaries.iter().map(|(r, s)| summary_row(r, s)).collect();
            let _ = write!(
                stdout,
                "{}",
                table::render(&["NAME", "STATUS", "COMPLETIONS", "DURATION"], &rows)
            );
        }
    }
    let failed: Vec<&str> = summaries
        .iter()
        .filter(|(_, s)| s.phase() == "Failed")
        .map(|(r, _)| r.name.as_str())
        .collect();
    // Everything is written; the exit closes the connection.
    runner.into_store().close_at_exit();
    if failed.is_empty() {
        Ok(())
    } else {
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
) -> Result<(Arc<Runtime>, Store, Vec<apply::Localized>), CliError> {
    let database = state_dir.join(DATABASE_FILE);
    let (read, modules) = std::sync::mpsc::channel();
    // The store comes back through a channel rather than the thread's join,
    // which waited for the thread to finish exiting as well.
    let (done, opened) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("wasmjob-store".into())
        .spawn(move || {
            let read_images = docs
                .into_iter()
                .map(apply::read_image)
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
    for (_, blob) in &localized {
        if let Some(blob) = blob {
            // Prepared now, while the store opens on the other thread;
            // resolving the documents below finds them in the runtime's
            // cache. One that cannot be prepared is reported there, when
            // it is prepared again.
            let _ = runtime.prepare(&blob.digest, &blob.bytes);
        }
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

/// Progress and output on the terminal while a run goes on. What instances
/// print, and their one-line summaries, are buffered and written when the
/// runner catches up, in a few writes rather than two per instance.
struct Console {
    progress: ProgressBar,
    tty: bool,
    several: bool,
    quiet: bool,
    /// For stdout: the instances' output.
    out: Vec<u8>,
    /// For stderr: a line per ended instance.
    err: Vec<u8>,
    /// The line of the last ended instance, its buffer reused.
    line: String,
}

impl Console {
    fn write_out(&mut self) {
        if self.out.is_empty() && self.err.is_empty() {
            return;
        }
        let (out, err) = (&mut self.out, &mut self.err);
        self.progress.suspend(|| {
            let _ = std::io::stdout().lock().write_all(out);
            let _ = std::io::stderr().lock().write_all(err);
        });
        // Emptied, not dropped: the buffers fill again at the next pass.
        out.clear();
        err.clear();
    }
}

impl Console {
    fn new(expected: u64, several: bool, quiet: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        let progress = if tty {
            let bar = ProgressBar::new(expected);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {bar:30} {pos}/{len} instances  {elapsed}  {msg}",
                )
                .expect("valid template"),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        Console {
            progress,
            tty,
            several,
            quiet,
            out: Vec::new(),
            err: Vec::new(),
            line: String::new(),
        }
    }
}

impl Observer for Console {
    fn instance_ended(
        &mut self,
        _job: &str,
        instance: &InstanceRecord,
        attempt: u32,
        output: &[u8],
    ) {
        // One line per instance, written straight into its buffer (this
        // runs ten thousand times in a Job of ten thousand).
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let _ = write!(line, "{} {}", instance.name, instance.phase.as_str());
        if let Some(reason) = &instance.reason {
            let _ = write!(line, " ({reason})");
        }
        if attempt > 0 {
            let _ = write!(line, " attempt {}", attempt + 1);
        }
        line.push_str(" in ");
        if let (Some(s), Some(f)) = (instance.start_time, instance.finish_time) {
            line.push_str(&human_duration(f - s));
        }
        if let Some(message) = instance
            .message
            .as_deref()
            .filter(|_| !instance.phase.eq(&Phase::Succeeded))
        {
            let _ = write!(line, ": {message}");
        }
        if instance.phase == Phase::Succeeded {
            self.progress.inc(1);
        }
        if !self.quiet && !output.is_empty() {
            let text = String::from_utf8_lossy(output);
            for l in text.lines() {
                if self.several {
                    let _ = write!(self.out, "[{}] ", instance.name);
                }
                self.out.extend_from_slice(l.as_bytes());
                self.out.push(b'\n');
            }
        }
        if self.tty {
            self.progress.set_message(line.clone());
        } else if !self.quiet || instance.phase != Phase::Succeeded {
            self.err.extend_from_slice(line.as_bytes());
            self.err.push(b'\n');
        }
        self.line = line;
    }

    fn caught_up(&mut self) {
        self.write_out();
    }

    fn job_ended(&mut self, job: &str, status: &JobStatus) {
        self.write_out();
        let line = match status.conditions.last() {
            Some(c) if c.kind == "Failed" => {
                format!("job.batch/{job} Failed: {} ({})", c.message, c.reason)
            }
            _ => format!("job.batch/{job} {}", status.phase()),
        };
        self.progress.suspend(|| eprintln!("{line}"));
    }
}
