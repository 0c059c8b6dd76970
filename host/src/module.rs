//! Module references: turning a container `image` into content-addressed
//! module bytes.
//!
//! `image` is a `.wasm` or `.wat` path relative to the manifest, `file://PATH`,
//! `sha256:<hex>` naming a module already in the store, or an image reference
//! of a registry (see [`crate::oci`]). Text is converted to binary before
//! hashing, so a digest always names the bytes that run.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The `sha256:<hex>` digest of module bytes.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Where an `image` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// A file to read now.
    File(PathBuf),
    /// A module already stored, by digest.
    Digest(String),
    /// An image reference of a registry, to pull.
    Registry(String),
}

/// Why an image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The file is missing or unreadable.
    #[error("cannot read module {path}: {source}")]
    Read {
        /// The resolved path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `.wat` text that does not parse.
    #[error("{path} is not valid WebAssembly text: {message}")]
    Wat {
        /// The resolved path.
        path: PathBuf,
        /// The parser's message with line and column.
        message: String,
    },
    /// A `sha256:` reference that is malformed.
    #[error("invalid digest {0:?}: expected sha256: and 64 hex digits")]
    BadDigest(String),
    /// A scheme wasmjob does not fetch.
    #[error(
        "cannot fetch {0:?}: image must be a .wasm or .wat path relative to the manifest, \
         file://PATH, sha256:DIGEST of a stored module, or a registry's image reference \
         such as registry.example.com/team/report:1.4"
    )]
    Unsupported(String),
}

/// Whether `image` is meant as a registry reference rather than a file:
/// a path (`.wasm`, `.wat`, or starting with `/`, `./`, `../`), `file://`
/// and `sha256:` are not.
pub fn is_reference(image: &str) -> bool {
    let image = image.trim();
    let path = image.ends_with(".wasm")
        || image.ends_with(".wat")
        || image.starts_with('/')
        || image.starts_with("./")
        || image.starts_with("../");
    !(path || image.starts_with("file://") || image.starts_with("sha256:") || image.is_empty())
}

/// Parses `image`, resolving relative paths against `base_dir`.
pub fn parse_image(image: &str, base_dir: &Path) -> Result<ImageRef, ModuleError> {
    let image = image.trim();
    if let Some(hex) = image.strip_prefix("sha256:") {
        if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(ImageRef::Digest(format!(
                "sha256:{}",
                hex.to_ascii_lowercase()
            )));
        }
        return Err(ModuleError::BadDigest(image.to_owned()));
    }
    if let Some(path) = image.strip_prefix("file://") {
        return Ok(ImageRef::File(base_dir.join(path)));
    }
    if image.contains("://") {
        return Err(ModuleError::Unsupported(image.to_owned()));
    }
    if is_reference(image) {
        return Ok(ImageRef::Registry(image.to_owned()));
    }
    Ok(ImageRef::File(base_dir.join(image)))
}

/// Reads a module file; `.wat` text (by extension or content) becomes binary.
pub fn read_module(path: &Path) -> Result<Vec<u8>, ModuleError> {
    let bytes = std::fs::read(path).map_err(|source| ModuleError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    // A `.wasm` that is not Wasm is left to validation to describe; text is
    // only parsed when the name or the content says it is text.
    let is_wasm_name = path.extension().is_some_and(|e| e == "wasm");
    let is_text = path.extension().is_some_and(|e| e == "wat")
        || (!is_wasm_name && std::str::from_utf8(&bytes).is_ok());
    if !is_text {
        return Ok(bytes);
    }
    wat::parse_bytes(&bytes)
        .map(|b| b.into_owned())
        .map_err(|e| ModuleError::Wat {
            path: path.to_path_buf(),
            // The parser draws a caret under the source line; one line reads
            // better in a terminal message.
            message: e
                .to_string()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && *l != "|")
                .collect::<Vec<_>>()
                .join(" "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_resolve_against_the_manifest() {
        let base = Path::new("/m");
        assert_eq!(
            parse_image("pi.wasm", base).unwrap(),
            ImageRef::File("/m/pi.wasm".into())
        );
        assert_eq!(
            parse_image("file:///abs/x.wat", base).unwrap(),
            ImageRef::File("/abs/x.wat".into())
        );
        let hex = "a".repeat(64);
        assert_eq!(
            parse_image(&format!("sha256:{hex}"), base).unwrap(),
            ImageRef::Digest(format!("sha256:{hex}"))
        );
    }

    #[test]
    fn references_are_the_registrys_and_other_schemes_are_refused() {
        let base = Path::new(".");
        assert_eq!(
            parse_image("team/report:1.4", base).unwrap(),
            ImageRef::Registry("team/report:1.4".into())
        );
        let err = parse_image("https://x/m.wasm", base)
            .unwrap_err()
            .to_string();
        assert!(err.contains("or a registry's image reference"), "{err}");
        assert!(parse_image("sha256:12", base).is_err());
    }

    #[test]
    fn wat_text_becomes_binary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.wat");
        std::fs::write(&path, "(module)").unwrap();
        assert!(read_module(&path).unwrap().starts_with(b"\0asm"));
        std::fs::write(&path, "(module").unwrap();
        let err = read_module(&path).unwrap_err().to_string();
        assert!(err.contains("not valid WebAssembly text"), "{err}");
    }
}
