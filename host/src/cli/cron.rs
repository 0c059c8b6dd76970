//! `wasmjob cron` (alias `cronjob`): a schedule's next fire times, which
//! need no server; pausing or resuming a CronJob with a note, a patch
//! through the node's Kubernetes API (`spec.suspend` and the annotation
//! [`PAUSE_NOTE`]); and a run now, optionally instead of the next
//! scheduled one (the annotation `wasmjob.dev/skip-next`); and a backfill
//! of a past range (the plan from the node, then the annotation
//! `wasmjob.dev/backfill`).

use std::path::Path;

use super::CliError;
use super::remote::connect;
use crate::resource::ResourceType;

/// The annotation that says why a CronJob is paused (`cron pause --note`,
/// or `spec.pauseOnFailure`).
pub use crate::manifest::well_known::{BACKFILL, PAUSE_NOTE, SKIP_NEXT};

/// `wasmjob cron …`.
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum CronCommand {
    /// Print the next fire times of SCHEDULE as RFC 3339 UTC, one a line.
    ///
    /// SCHEDULE is Kubernetes' five fields (or six, with leading seconds), a
    /// macro such as @daily, or @every 90s.
    ///
    /// Example: wasmjob cron next "30 2 * * *" --time-zone America/New_York -n 3
    #[command(verbatim_doc_comment)]
    Next(CronNextArgs),
    /// Suspend a CronJob, saying why (shown by get cronjobs and describe).
    ///
    /// Example: wasmjob cron pause nightly --note "migrating the database"
    #[command(verbatim_doc_comment)]
    Pause(PauseArgs),
    /// Resume a CronJob, forgetting its pause note.
    ///
    /// Example: wasmjob cron resume nightly
    #[command(verbatim_doc_comment)]
    Resume(PauseArgs),
    /// Run a CronJob's Job now; with --skip-next, instead of its next
    /// scheduled run.
    ///
    /// Example: wasmjob cron trigger nightly --skip-next
    #[command(verbatim_doc_comment)]
    Trigger(TriggerArgs),
    /// Run a CronJob's scheduled times in a past range, each once.
    ///
    /// Prints what each time does (Run, Rerun, AlreadyRun, Pending), then
    /// asks the node to run them (annotation wasmjob.dev/backfill); the runs
    /// start in order, at most maxConcurrentRuns at once (one at a time
    /// when the CronJob has no cap), unless --overlap AllowAll.
    ///
    /// Example: wasmjob cron backfill nightly --from 2026-11-01T00:00:00Z \
    ///            --to 2026-11-30T23:59:59Z --dry-run
    #[command(verbatim_doc_comment)]
    Backfill(BackfillArgs),
}

// `wasmjob cron backfill`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// The CronJob.
    pub name: String,
    /// Its namespace.
    #[arg(short = 'n', long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,
    /// The first scheduled time to run (RFC 3339, inclusive).
    #[arg(long, value_name = "RFC3339")]
    pub from: String,
    /// The last scheduled time to run (RFC 3339, inclusive; not in the future).
    #[arg(long, value_name = "RFC3339")]
    pub to: String,
    /// BufferAll: every time, in order; Skip: only what there is room for
    /// now; AllowAll: all at once.
    #[arg(long, value_name = "POLICY", default_value = "BufferAll")]
    pub overlap: String,
    /// Run again the times whose run failed, or all that ran.
    #[arg(long, value_name = "failed|all")]
    pub rerun: Option<String>,
    /// Only print what each time would do.
    #[arg(long)]
    pub dry_run: bool,
}

// `wasmjob cron trigger`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct TriggerArgs {
    /// The CronJob.
    pub name: String,
    /// Its namespace.
    #[arg(short = 'n', long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,
    /// Pass over the next scheduled time: this run is it, early.
    #[arg(long)]
    pub skip_next: bool,
}

// `wasmjob cron next`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct CronNextArgs {
    /// The schedule.
    pub schedule: String,
    /// An IANA time zone the schedule's wall clock is in [default: UTC].
    #[arg(long, value_name = "ZONE")]
    pub time_zone: Option<String>,
    /// Fire times strictly after this RFC 3339 time [default: now].
    #[arg(long, value_name = "RFC3339")]
    pub after: Option<String>,
    /// How many.
    #[arg(short = 'n', long = "count", default_value_t = 5, value_name = "N")]
    pub count: usize,
}

// `wasmjob cron pause|resume`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct PauseArgs {
    /// The CronJob.
    pub name: String,
    /// Its namespace.
    #[arg(short = 'n', long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,
    /// Why it is paused (pause only).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

/// `wasmjob cron next`: needs no server and no state.
pub(super) fn next(args: &CronNextArgs) -> Result<(), CliError> {
    let schedule = crate::schedule::Schedule::parse(&args.schedule)
        .map_err(|e| CliError::BadInput(e.to_string()))?;
    let tz = crate::schedule::time_zone(args.time_zone.as_deref()).ok_or_else(|| {
        CliError::BadInput(format!(
            "--time-zone: unknown time zone {:?}: use an IANA name such as Europe/Berlin",
            args.time_zone.as_deref().unwrap_or_default()
        ))
    })?;
    let after = match &args.after {
        None => jiff::Timestamp::now(),
        Some(text) => text.parse().map_err(|e| {
            CliError::BadInput(format!("--after {text:?}: not an RFC 3339 time ({e})"))
        })?,
    };
    let times = schedule.upcoming(after, &tz, args.count);
    if times.is_empty() {
        return Err(CliError::Failed(format!(
            "schedule {:?} never fires",
            args.schedule
        )));
    }
    for t in times {
        outln!("{}", t.strftime("%Y-%m-%dT%H:%M:%SZ"));
    }
    Ok(())
}

/// JSON merge patch's media type.
const MERGE: &str = "application/merge-patch+json";

impl PauseArgs {
    fn cronjob(&self) -> (ResourceType, &str, &str) {
        (ResourceType::CronJobs, &self.namespace, &self.name)
    }
}

/// `wasmjob cron pause|resume NAME`.
pub(super) fn pause_or_resume(
    server: Option<&str>,
    state_dir: &Path,
    command: &CronCommand,
) -> Result<(), CliError> {
    let (args, pause) = match command {
        CronCommand::Pause(args) => (args, true),
        CronCommand::Resume(args) => (args, false),
        CronCommand::Next(args) => return next(args),
        CronCommand::Trigger(args) => return trigger(server, state_dir, args),
        CronCommand::Backfill(args) => return backfill(server, state_dir, args),
    };
    if !pause && args.note.is_some() {
        return Err(CliError::BadInput("--note is for pause".into()));
    }
    let note = match (pause, &args.note) {
        (true, Some(note)) => serde_json::json!(note),
        (true, None) => serde_json::json!("paused with wasmjob cron pause"),
        (false, _) => serde_json::Value::Null,
    };
    let patch = serde_json::json!({
        "metadata": {"annotations": {PAUSE_NOTE: note}},
        "spec": {"suspend": pause},
    });
    let client = connect(server, state_dir)?;
    super::remote::patch(&client, args.cronjob(), MERGE, &patch)?;
    let word = if pause { "paused" } else { "resumed" };
    outln!("cronjob.batch/{} {word}", args.name);
    Ok(())
}

/// `wasmjob cron trigger NAME [--skip-next]`: a Job from the template now
/// (as `create job --from=cronjob/NAME`, named `NAME-manual-xxxxx`); with
/// `--skip-next`, the next scheduled time is marked to pass over.
pub(super) fn trigger(
    server: Option<&str>,
    state_dir: &Path,
    args: &TriggerArgs,
) -> Result<(), CliError> {
    let job = format!("{}-manual-{}", args.name, crate::ids::name_suffix());
    let from = format!("cronjob/{}", args.name);
    super::apply::create_from_cronjob(server, state_dir, &job, &from, &args.namespace)?;
    if !args.skip_next {
        return Ok(());
    }
    let client = connect(server, state_dir)?;
    let query = [
        ("namespace", args.namespace.clone()),
        ("name", args.name.clone()),
        ("count", "1".to_owned()),
    ];
    let next: serde_json::Value = client.get("/wasmjob/v1/schedule", &query)?;
    let Some(time) = next["times"][0].as_str() else {
        return Err(CliError::Failed(format!(
            "cronjob {:?} has no next scheduled time to skip",
            args.name
        )));
    };
    annotate(&client, (&args.namespace, &args.name), SKIP_NEXT, time)?;
    outln!("cronjob.batch/{} skips {time}", args.name);
    Ok(())
}

/// `wasmjob cron backfill NAME --from T --to T`: the plan, from the node;
/// then, unless `--dry-run`, the request set as the CronJob's annotation
/// [`BACKFILL`] for the node that holds it.
pub(super) fn backfill(
    server: Option<&str>,
    state_dir: &Path,
    args: &BackfillArgs,
) -> Result<(), CliError> {
    let rerun = args.rerun.clone().unwrap_or_else(|| "none".into());
    let client = connect(server, state_dir)?;
    let path = format!(
        "/wasmjob/v1/namespaces/{}/cronjobs/{}/backfill",
        args.namespace, args.name
    );
    let query = [
        ("from", args.from.clone()),
        ("to", args.to.clone()),
        ("overlap", args.overlap.clone()),
        ("rerun", rerun.clone()),
    ];
    let plan: serde_json::Value = client.get(&path, &query)?;
    let times = plan["times"].as_array().cloned().unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    // To the second, as schedules are written.
    let second = |v: &serde_json::Value| match text(v).parse::<jiff::Timestamp>() {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => text(v),
    };
    let rows: Vec<Vec<String>> = (times.iter())
        .map(|t| vec![second(&t["time"]), text(&t["action"])])
        .collect();
    outln!(
        "{}",
        super::table::render(&["TIME", "ACTION"], &rows).trim_end()
    );
    let runs = (times.iter())
        .filter(|t| t["action"] == "Run" || t["action"] == "Rerun")
        .count();
    if args.dry_run {
        outln!("{runs} of {} times would run (dry run)", times.len());
        return Ok(());
    }
    if runs == 0 {
        outln!("cronjob.batch/{}: nothing to backfill", args.name);
        return Ok(());
    }
    let request = serde_json::json!({
        "id": crate::ids::name_suffix(),
        "from": args.from,
        "to": args.to,
        "overlap": args.overlap,
        "rerun": rerun,
    });
    let cronjob = (args.namespace.as_str(), args.name.as_str());
    annotate(&client, cronjob, BACKFILL, &request.to_string())?;
    outln!("cronjob.batch/{} backfilling {runs} times", args.name);
    Ok(())
}

/// Sets the annotation `key` of the CronJob `(namespace, name)` to `value`,
/// a merge patch through the node's Kubernetes API.
fn annotate(
    client: &crate::api::client::Client,
    (namespace, name): (&str, &str),
    key: &str,
    value: &str,
) -> Result<(), CliError> {
    let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
    let cronjob = (ResourceType::CronJobs, namespace, name);
    super::remote::patch(client, cronjob, MERGE, &patch)?;
    Ok(())
}
