//! The commands' standard output. A reader that goes away early
//! (`wasmjob get jobs | head -1`) ends the command quietly with success, as
//! kubectl and other Unix tools do, instead of the panic `print!` raises on
//! a broken pipe. (Rust ignores `SIGPIPE`, so the write fails instead.)

use std::io::{ErrorKind, Write};

/// Writes `args` to stdout (see the module's doc).
pub(crate) fn write(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to standard output: {e}");
        std::process::exit(1);
    }
}
