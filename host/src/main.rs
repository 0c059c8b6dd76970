//! The `wasmjob` binary: parses the command line, runs it, and maps the error
//! to an exit code (0 success, 1 failure, 2 bad input or usage).

use clap::Parser;
use wasmjob::cli::{Cli, execute};

fn main() {
    wasmjob::logging::init();
    let cli = Cli::parse();
    if let Err(error) = execute(cli) {
        eprintln!("error: {error}");
        std::process::exit(error.exit_code());
    }
}
