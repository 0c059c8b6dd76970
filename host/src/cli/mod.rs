//! The command line: clap definitions and the error type whose kind decides
//! the exit code (0 success, 1 the operation or a Job failed, 2 bad input).

mod run;
mod table;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

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

/// Kubernetes-style Jobs that run as sandboxed WebAssembly instances.
#[derive(Debug, Parser)]
#[command(name = "wasmjob", version, about, long_about = None)]
pub struct Cli {
    /// Where history, modules and the compiled-module cache live
    /// [default: the platform data directory, e.g. ~/.local/share/wasmjob].
    #[arg(long, global = true, env = "WASMJOB_HOME", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Jobs of manifest files to their end, in this process.
    ///
    /// Each Job's instances run in a Wasm sandbox; their output is shown as
    /// each ends, then a summary. History and logs go to the state directory.
    /// Exit code: 0 every Job Complete, 1 a Job Failed, 2 bad input.
    ///
    /// Example: wasmjob run -f examples/pi-job.yaml
    #[command(verbatim_doc_comment)]
    Run(RunArgs),
}

/// `wasmjob run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Manifest file(s) holding Jobs (several documents per file allowed).
    #[arg(short = 'f', long = "filename", required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the finished Jobs and their instances instead of output and summary.
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,
    /// Do not show the instances' output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Output kept per instance; past it the log ends with a truncation marker.
    #[arg(long, default_value = "1Mi", value_name = "QUANTITY")]
    pub max_log_size: String,
    /// The node name instances see in NODE_NAME [default: the host name].
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
}

/// `-o` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A Kubernetes `List` as JSON.
    Json,
    /// A Kubernetes `List` as YAML.
    Yaml,
}

/// Runs the parsed command line.
pub fn execute(cli: Cli) -> Result<(), CliError> {
    let state_dir = state_dir(cli.state_dir)?;
    match cli.command {
        Command::Run(args) => run::run(&state_dir, args),
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
