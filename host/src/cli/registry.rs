//! `wasmjob push FILE REF` and `wasmjob pull REF`: a plugin author's loop
//! is `cargo build`, `push`, `apply`. The module goes up in the CNCF Wasm
//! artifact layout ([`crate::oci::push`]); credentials come from
//! `~/.docker/config.json`. And `wasmjob images [prune]`: what this
//! machine's cache holds ([`crate::oci::cache`]). None needs a server.

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

/// `wasmjob pull REF`: writes the module (and keeps it in the cache),
/// prints where and the pinned reference.
pub(super) fn pull(args: &PullArgs) -> Result<(), CliError> {
    let always = Some(crate::oci::PullPolicy::Always);
    let pulled = crate::oci::fetch(&args.reference, always, &[]).map_err(oci_error)?;
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

// `wasmjob images`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    pub command: Option<ImagesCommand>,
}

// What `wasmjob images` does besides listing (no doc comment: clap would
// take it as `images --help`'s text over the command's own).
#[allow(missing_docs)]
#[derive(Debug, clap::Subcommand)]
pub enum ImagesCommand {
    /// Remove the cached modules no stored Job, CronJob or DaemonSet uses.
    Prune,
}

/// `wasmjob images [prune]`.
pub(super) fn images(state_dir: &std::path::Path, args: &ImagesArgs) -> Result<(), CliError> {
    if args.command.is_none() {
        let rows: Vec<Vec<String>> = (crate::oci::cache::list().into_iter())
            .map(|e| {
                let digest = e.image_id.rsplit('@').next().unwrap_or_default();
                let short: String = digest.chars().take(19).collect();
                vec![e.reference, short, e.size.to_string(), e.last_used]
            })
            .collect();
        let header = ["REFERENCE", "DIGEST", "SIZE", "LAST USED"];
        out!("{}", super::table::render(&header, &rows));
        return Ok(());
    }
    // What the stored objects run: their manifests name modules by digest.
    let db = state_dir.join(super::run::DATABASE_FILE);
    let mut manifests = Vec::new();
    if db.exists() {
        let store =
            crate::store::Store::open_readonly(&db).map_err(|e| CliError::Failed(e.to_string()))?;
        use crate::manifest::Kind;
        for kind in [Kind::Job, Kind::CronJob, Kind::DaemonSet] {
            let live = store
                .live_objects(kind, None)
                .map_err(|e| CliError::Failed(e.to_string()))?;
            manifests.extend(live.into_iter().map(|o| o.manifest.to_string()));
        }
    }
    let in_use = |digest: &str| manifests.iter().any(|m| m.contains(digest));
    let removed = crate::oci::cache::prune(in_use)
        .map_err(|e| CliError::Failed(format!("cannot prune the image cache: {e}")))?;
    for entry in &removed {
        outln!("deleted {}", entry.reference);
    }
    outln!("{} removed", removed.len());
    Ok(())
}
