//! `wasmjob push FILE REF` and `wasmjob pull REF`: a plugin author's loop
//! is `cargo build`, `push`, `apply`. The module goes up in the CNCF Wasm
//! artifact layout ([`crate::oci::push`]); credentials come from
//! `~/.docker/config.json`. Neither needs a server.

use std::path::PathBuf;

use super::CliError;

// `wasmjob push`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The module: a .wasm file (or .wat text).
    pub file: PathBuf,
    /// Where: registry/repository:tag.
    pub reference: String,
}

// `wasmjob pull`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// registry/repository:tag (or @sha256:…).
    pub reference: String,
    /// Write the module here [default: the repository's last part, .wasm].
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Bad input (exit 2) for a reference that does not parse; the registry's
/// refusals are failures (exit 1).
fn oci_error(e: crate::oci::OciError) -> CliError {
    match e {
        crate::oci::OciError::InvalidImageName { .. } => CliError::BadInput(e.to_string()),
        other => CliError::Failed(other.to_string()),
    }
}

/// `wasmjob push FILE REF`: prints the pinned reference.
pub(super) fn push(args: &PushArgs) -> Result<(), CliError> {
    let bytes =
        crate::module::read_module(&args.file).map_err(|e| CliError::BadInput(e.to_string()))?;
    if !bytes.starts_with(b"\0asm") {
        return Err(CliError::BadInput(format!(
            "{} is not a Wasm module or component",
            args.file.display()
        )));
    }
    let pinned = crate::oci::push(&args.reference, bytes).map_err(oci_error)?;
    outln!("{pinned}");
    Ok(())
}

/// `wasmjob pull REF`: writes the module, prints where and the pinned
/// reference.
pub(super) fn pull(args: &PullArgs) -> Result<(), CliError> {
    let pulled = crate::oci::pull(&args.reference).map_err(oci_error)?;
    let output = args.output.clone().unwrap_or_else(|| {
        let reference = crate::oci::normalize(&args.reference).ok();
        let repository = reference
            .map(|r| r.repository().to_owned())
            .unwrap_or_default();
        let last = repository.rsplit('/').next().unwrap_or("module");
        PathBuf::from(format!("{last}.wasm"))
    });
    std::fs::write(&output, &pulled.bytes)
        .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", output.display())))?;
    outln!("{} {}", output.display(), pulled.image_id);
    Ok(())
}
