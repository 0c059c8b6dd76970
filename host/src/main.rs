//! The `wasmjob` binary: parses the command line, runs it, and maps the error
//! to an exit code (0 success, 1 failure, 2 bad input or usage).

use clap::Parser;
use wasmjob::cli::{Cli, execute};

fn main() {
    // RUST_LOG's directives when it is set; otherwise warnings and errors
    // through a plain level filter, which costs a short `wasmjob run` less
    // than parsing an EnvFilter.
    match tracing_subscriber::EnvFilter::try_from_env("RUST_LOG") {
        Ok(filter) => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        Err(_) => tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(std::io::stderr)
            .init(),
    }
    let cli = Cli::parse();
    if let Err(error) = execute(cli) {
        eprintln!("error: {error}");
        std::process::exit(error.exit_code());
    }
}
