//! The modules pulled on this machine, in `<state dir>/images/`: the
//! bytes by digest (`sha256/<hex>.wasm`) and an index of references
//! (`index.json`: reference, pinned image, module digest, size, when
//! pulled and last used). `IfNotPresent` and `Never` are answered from it
//! with no request, so a node that restarts offline still applies what it
//! had; `wasmjob images` lists it and `images prune` empties it of what no
//! stored object uses. Bytes read back are checked against their digest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::Pulled;

static DIR: OnceLock<PathBuf> = OnceLock::new();

/// Keeps this process's pulls in `<state_dir>/images` (the CLI and `serve`
/// call it once they know the state directory; without it nothing is kept).
pub fn use_state_dir(state_dir: &Path) {
    let _ = DIR.set(state_dir.join("images"));
}

/// One cached reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The reference in full (`registry/repo:tag`).
    pub reference: String,
    /// Pinned: `registry/repo:tag@sha256:…` of the manifest.
    pub image_id: String,
    /// The module's digest (`sha256:…`), as the store names it.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was pulled, RFC 3339.
    pub pulled: String,
    /// When it was last used, RFC 3339.
    pub last_used: String,
}

fn index_path(dir: &Path) -> PathBuf {
    dir.join("index.json")
}

fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    dir.join("sha256").join(format!("{hex}.wasm"))
}

fn read_index(dir: &Path) -> BTreeMap<String, Entry> {
    let text = std::fs::read_to_string(index_path(dir)).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

/// Writes the index whole, through a temporary file: a reader sees the old
/// or the new, never half.
fn write_index(dir: &Path, index: &BTreeMap<String, Entry>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!("index.json.{}", std::process::id()));
    std::fs::write(&temporary, serde_json::to_vec_pretty(index)?)?;
    std::fs::rename(temporary, index_path(dir))
}

fn now() -> String {
    crate::time::rfc3339(crate::time::now())
}

/// Every cached reference.
pub fn list() -> Vec<Entry> {
    let Some(dir) = DIR.get() else {
        return Vec::new();
    };
    read_index(dir).into_values().collect()
}

/// The cached module of `reference` (in full), if its bytes are there and
/// match their digest; marked as used now.
pub fn lookup(reference: &str) -> Option<Pulled> {
    let dir = DIR.get()?;
    let mut index = read_index(dir);
    let entry = index.get_mut(reference)?;
    let bytes = std::fs::read(blob_path(dir, &entry.digest)).ok()?;
    if crate::module::digest(&bytes) != entry.digest {
        return None; // damaged: pulled again
    }
    entry.last_used = now();
    let image_id = entry.image_id.clone();
    let _ = write_index(dir, &index);
    Some(Pulled { image_id, bytes })
}

/// Keeps a pull of `reference` (in full). A cache that cannot be written
/// loses nothing but a later request.
pub fn keep(reference: &str, pulled: &Pulled) {
    let Some(dir) = DIR.get() else {
        return;
    };
    let digest = crate::module::digest(&pulled.bytes);
    let blob = blob_path(dir, &digest);
    let written = blob
        .parent()
        .map(std::fs::create_dir_all)
        .transpose()
        .and_then(|_| {
            let temporary = blob.with_extension(format!("part.{}", std::process::id()));
            std::fs::write(&temporary, &pulled.bytes)?;
            std::fs::rename(temporary, &blob)
        });
    if let Err(e) = written {
        tracing::warn!(error = %e, "a pulled module could not be cached");
        return;
    }
    let mut index = read_index(dir);
    let at = now();
    index.insert(
        reference.to_owned(),
        Entry {
            reference: reference.to_owned(),
            image_id: pulled.image_id.clone(),
            digest,
            size: pulled.bytes.len() as u64,
            pulled: at.clone(),
            last_used: at,
        },
    );
    if let Err(e) = write_index(dir, &index) {
        tracing::warn!(error = %e, "the image cache's index could not be written");
    }
}

/// Removes the references whose module digest `in_use` does not hold, and
/// the bytes no reference left names; the entries removed.
pub fn prune(in_use: impl Fn(&str) -> bool) -> std::io::Result<Vec<Entry>> {
    let Some(dir) = DIR.get() else {
        return Ok(Vec::new());
    };
    let index = read_index(dir);
    let (kept, removed): (BTreeMap<_, _>, BTreeMap<_, _>) =
        index.into_iter().partition(|(_, e)| in_use(&e.digest));
    write_index(dir, &kept)?;
    for entry in removed.values() {
        if !kept.values().any(|k| k.digest == entry.digest) {
            let _ = std::fs::remove_file(blob_path(dir, &entry.digest));
        }
    }
    Ok(removed.into_values().collect())
}
