//! The command line: clap definitions and the error type whose kind decides
//! the exit code (0 success, 1 the operation or a Job failed, 2 bad input).

/// `print!` to the commands' standard output (see `stdout`).
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::stdout::write(format_args!($($arg)*)) };
}

/// `println!` to the commands' standard output (see `stdout`).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::stdout::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod apply;
mod args;
mod changing;
mod console;
mod cron;
mod delete;
mod describe;
mod get;
mod jsonpath;
mod label;
mod logs;
mod new;
mod node_args;
mod queue;
mod registry;
mod remote;
mod rollout;
mod run;
mod serve;
mod source;
mod stdout;
mod table;
mod token;

pub use args::*;

use std::path::PathBuf;

use crate::resource::ResourceType;

/// What went wrong, and so which exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input or usage: exit 2, nothing changed.
    #[error("{0}")]
    BadInput(String),
    /// The work ran and failed: exit 1, already reported.
    #[error("{0}")]
    Failed(String),
    /// Something else failed: exit 1.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::BadInput(_) => 2,
            CliError::Failed(_) | CliError::Other(_) => 1,
        }
    }
}

/// Runs the parsed command line.
pub fn execute(cli: Cli) -> Result<(), CliError> {
    if let Command::Cron(cron::CronCommand::Next(args)) = &cli.command {
        return cron::next(args);
    }
    if let Command::Completions(args) = &cli.command {
        let mut command = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(args.shell, &mut command, "wasmjob", &mut std::io::stdout());
        return Ok(());
    }
    let state_dir = state_dir(cli.state_dir)?;
    // Modules pulled from registries are kept in the state directory.
    crate::oci::cache::use_state_dir(&state_dir);
    let server = cli.server.as_deref();
    match cli.command {
        Command::Run(args) => run::run(&state_dir, args),
        Command::Serve(args) => serve::serve(&state_dir, *args),
        Command::Apply(args) => apply::apply(server, &state_dir, &args, false),
        Command::Create(args) => create(server, &state_dir, args),
        Command::Get(args) => get::get(server, &state_dir, args.request()),
        Command::Describe(args) => {
            let name = args.name.as_deref();
            describe::describe(server, &state_dir, &args.target, name, &args.namespace)
        }
        Command::Logs(args) => logs::logs(server, &state_dir, args.request()),
        Command::Delete(args) => delete::delete(server, &state_dir, args.request()),
        Command::Label(args) => {
            let request = label::parse_changes(&args.changes, args.overwrite)?;
            label::label(server, &state_dir, &args.kind, &args.name, request)
        }
        Command::Taint(args) => label::taint(server, &state_dir, &args),
        Command::Patch(args) => changing::patch(server, &state_dir, &args),
        Command::Wait(args) => changing::wait(server, &state_dir, &args),
        Command::Rollout(command) => rollout::rollout(server, &state_dir, &command),
        Command::Cron(cron::CronCommand::Next(args)) => cron::next(&args),
        Command::Cron(cron::CronCommand::Trigger(args)) => cron::trigger(server, &state_dir, &args),
        Command::Cron(cron::CronCommand::Backfill(args)) => {
            cron::backfill(server, &state_dir, &args)
        }
        Command::Cron(command) => cron::pause_or_resume(server, &state_dir, &command),
        Command::Queue(command) => queue::queue(&state_dir, command),
        Command::Push(args) => registry::push(&args),
        Command::New(args) => new::new(&args),
        Command::Pull(args) => registry::pull(&args),
        Command::Images(args) => registry::images(&state_dir, &args),
        Command::Completions(_) => unreachable!("handled above"),
    }
}

/// `create -f FILE` (apply, refusing what exists), `create job NAME
/// --from=cronjob/NAME` or `create token NAME`.
fn create(
    server: Option<&str>,
    state_dir: &std::path::Path,
    args: CreateArgs,
) -> Result<(), CliError> {
    match (&args.kind, &args.from) {
        (None, None) if !args.files.is_empty() => {
            let files = FileArgs {
                files: args.files,
                templates: args.templates,
            };
            apply::apply(server, state_dir, &files, true)
        }
        (Some(kind), None) if kind == "token" => {
            let name = args.name.as_deref().ok_or_else(|| {
                CliError::BadInput("create token needs the ServiceAccount's NAME".into())
            })?;
            let request = token::TokenArgs {
                name,
                namespace: &args.namespace,
                duration: args.duration.as_deref(),
                audiences: &args.audiences,
                kubeconfig: args.write_kubeconfig.as_deref(),
            };
            token::create_token(server, state_dir, &request)
        }
        (Some(kind), Some(from)) if ResourceType::parse(kind) == Some(ResourceType::Jobs) => {
            let name = args
                .name
                .as_deref()
                .ok_or_else(|| CliError::BadInput("create job needs a NAME".into()))?;
            apply::create_from_cronjob(server, state_dir, name, from, &args.namespace)
        }
        _ => Err(CliError::BadInput(
            "create takes -f FILE, job NAME --from=cronjob/NAME, or token NAME".into(),
        )),
    }
}

impl GetArgs {
    fn request(&self) -> get::GetRequest<'_> {
        get::GetRequest {
            kind: &self.kind,
            names: &self.names,
            selector: self.selector.as_deref(),
            format: self.output.clone(),
            namespace: (!self.all_namespaces).then_some(self.namespace.as_str()),
            watch: self.watch,
            sort_by: self.sort_by.as_deref(),
            field_selector: self.field_selector.as_deref(),
            show_labels: self.show_labels,
        }
    }
}

impl LogsArgs {
    fn request(&self) -> logs::LogsRequest<'_> {
        logs::LogsRequest {
            target: self.target.as_deref(),
            selector: self.selector.as_deref(),
            namespace: &self.namespace,
            all_attempts: self.all_attempts,
            previous: self.previous,
            follow: self.follow,
            level: self.level.as_deref(),
            fields: &self.fields,
            container: self.container.as_deref(),
            timestamps: self.timestamps,
            since: self.since.as_deref(),
            since_time: self.since_time.as_deref(),
            tail: self.tail,
        }
    }
}

impl DeleteArgs {
    fn request(&self) -> delete::DeleteRequest<'_> {
        delete::DeleteRequest {
            kind: self.kind.as_deref(),
            names: &self.names,
            selector: self.selector.as_deref(),
            files: &self.files,
            namespace: &self.namespace,
        }
    }
}

fn state_dir(explicit: Option<PathBuf>) -> Result<PathBuf, CliError> {
    let dir = match explicit {
        Some(dir) => dir,
        None => dirs::data_dir().map(|d| d.join("wasmjob")).ok_or_else(|| {
            CliError::BadInput(
                "no data directory on this system: pass --state-dir or set WASMJOB_HOME".into(),
            )
        })?,
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        CliError::Other(anyhow::anyhow!(
            "cannot create the state directory {}: {e}",
            dir.display()
        ))
    })?;
    Ok(dir)
}

/// This machine's host name, lowercased, as the default node name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_ascii_lowercase())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
