//! Secret values at rest: a Secret's `data` is sealed (ChaCha20-Poly1305,
//! a fresh random nonce per seal) before it is written to any store, and
//! opened only where it is used — an instance's sandbox, `get secret -o
//! yaml`. The key is 32 random bytes in the state directory's
//! `secret.key` (mode 0600, like the API token); in a cluster the first
//! node's key is the cluster's, shared the way the API token is (see
//! `cli::serve`), so every node opens every Secret.
//!
//! A stored Secret's manifest keeps `metadata`, `type` and `immutable` in
//! the clear and replaces `data` with `sealedData`: `v1:` and the base64
//! of the nonce and the ciphertext of the `data` map's JSON.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde_json::Value;

/// The file of a state directory that holds the key (hex).
pub const KEY_FILE: &str = "secret.key";

const SEALED_FIELD: &str = "sealedData";
const VERSION: &str = "v1:";

/// Why a Secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key file could not be read or written.
    #[error("secret key {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key is not 64 hex digits.
    #[error("secret key {0}: not 64 hex digits; restore the file or remove it with the store")]
    BadKey(String),
    /// The sealed value was not made with this key, or was changed.
    #[error(
        "a stored Secret cannot be opened with this node's key ({0}): the store was sealed \
         with another secret.key"
    )]
    Unsealable(&'static str),
}

/// The key Secrets are sealed with.
#[derive(Clone)]
pub struct SecretKey {
    cipher: ChaCha20Poly1305,
    hex: String,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// The state directory's key, made (0600) when there is none.
    pub fn load_or_create(state_dir: &Path) -> Result<SecretKey, SecretError> {
        let path = state_dir.join(KEY_FILE);
        let shown = path.display().to_string();
        let io = |source| SecretError::KeyFile {
            path: shown.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => SecretKey::from_hex(text.trim()).ok_or(SecretError::BadKey(shown)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretKey::generate();
                key.save(state_dir).map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Writes the key to the state directory (0600), replacing any there:
    /// a cluster node takes its cluster's.
    pub fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(state_dir)?;
        let path = state_dir.join(KEY_FILE);
        let tmp = state_dir.join(format!("{KEY_FILE}.tmp"));
        write_private(&tmp, self.hex.as_bytes())?;
        std::fs::rename(tmp, path)
    }

    /// A new random key.
    pub fn generate() -> SecretKey {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).expect("the OS gives random bytes");
        SecretKey::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8; 32]) -> SecretKey {
        SecretKey {
            cipher: ChaCha20Poly1305::new(Key::from_slice(bytes)),
            hex: hex::encode(bytes),
        }
    }

    /// A key from its 64 hex digits.
    pub fn from_hex(text: &str) -> Option<SecretKey> {
        let bytes: [u8; 32] = hex::decode(text).ok()?.try_into().ok()?;
        Some(SecretKey::from_bytes(&bytes))
    }

    /// The key's hex digits, to share it with a cluster.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Seals bytes: `v1:` and base64 of nonce and ciphertext.
    fn seal(&self, plain: &[u8]) -> String {
        let mut nonce = [0u8; 12];
        getrandom::getrandom(&mut nonce).expect("the OS gives random bytes");
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain)
            .expect("sealing cannot fail for in-memory data");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!(
            "{VERSION}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    fn open(&self, sealed: &str) -> Result<Vec<u8>, SecretError> {
        let text = sealed
            .strip_prefix(VERSION)
            .ok_or(SecretError::Unsealable("unknown format"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| SecretError::Unsealable("not base64"))?;
        if bytes.len() < 12 {
            return Err(SecretError::Unsealable("too short"));
        }
        let (nonce, cipher) = bytes.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), cipher)
            .map_err(|_| SecretError::Unsealable("authentication failed"))
    }

    /// A Secret's manifest as it is stored: its `data` sealed. Other
    /// manifests are returned unchanged.
    pub fn seal_manifest(&self, mut manifest: Value) -> Value {
        let Some(map) = manifest.as_object_mut() else {
            return manifest;
        };
        let data = map
            .remove("data")
            .unwrap_or_else(|| Value::Object(Default::default()));
        let plain = serde_json::to_vec(&data).expect("JSON");
        map.insert(SEALED_FIELD.into(), self.seal(&plain).into());
        manifest
    }

    /// A stored Secret's manifest with its `data` again (one without
    /// `sealedData` is returned as it is).
    pub fn open_manifest(&self, mut manifest: Value) -> Result<Value, SecretError> {
        let Some(map) = manifest.as_object_mut() else {
            return Ok(manifest);
        };
        let Some(sealed) = map.remove(SEALED_FIELD) else {
            return Ok(manifest);
        };
        let plain = self.open(sealed.as_str().unwrap_or_default())?;
        let data: Value =
            serde_json::from_slice(&plain).map_err(|_| SecretError::Unsealable("not JSON"))?;
        if data.as_object().is_some_and(|d| !d.is_empty()) {
            map.insert("data".into(), data);
        }
        Ok(manifest)
    }
}

/// A state directory's key, read (or made) at its first use: most runs
/// never touch a Secret, and a `wasmjob run` should not pay for it.
#[derive(Debug)]
pub struct Keyring {
    state_dir: PathBuf,
    key: OnceLock<Result<SecretKey, String>>,
}

impl Keyring {
    /// The key of `state_dir`, not read yet.
    pub fn new(state_dir: &Path) -> Keyring {
        Keyring {
            state_dir: state_dir.to_path_buf(),
            key: OnceLock::new(),
        }
    }

    /// A keyring holding `key` (a cluster's, or a test's).
    pub fn with(state_dir: &Path, key: SecretKey) -> Keyring {
        let ring = Keyring::new(state_dir);
        let _ = ring.key.set(Ok(key));
        ring
    }

    /// The key, read or made now if it was not yet.
    pub fn key(&self) -> Result<&SecretKey, String> {
        let key = self
            .key
            .get_or_init(|| SecretKey::load_or_create(&self.state_dir).map_err(|e| e.to_string()));
        key.as_ref().map_err(Clone::clone)
    }

    /// A stored manifest of `kind` as it is read: a Secret's opened.
    pub fn open(&self, kind: crate::manifest::Kind, manifest: Value) -> Result<Value, String> {
        if kind != crate::manifest::Kind::Secret {
            return Ok(manifest);
        }
        self.key()?
            .open_manifest(manifest)
            .map_err(|e| e.to_string())
    }

    /// A manifest of `kind` as it is stored: a Secret's sealed.
    pub fn seal(&self, kind: crate::manifest::Kind, manifest: Value) -> Result<Value, String> {
        if kind != crate::manifest::Kind::Secret {
            return Ok(manifest);
        }
        Ok(self.key()?.seal_manifest(manifest))
    }
}

/// Writes a file only its owner may read (mode 0600), synced.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sealed_secret_opens_with_its_key_only_and_hides_its_values() {
        let key = SecretKey::generate();
        let manifest = json!({"metadata": {"name": "db"}, "type": "Opaque",
                              "data": {"password": "czNjcjN0"}});
        let sealed = key.seal_manifest(manifest.clone());
        let text = sealed.to_string();
        assert!(
            !text.contains("czNjcjN0") && !text.contains("s3cr3t"),
            "{text}"
        );
        assert_eq!(sealed["type"], "Opaque");
        assert!(sealed["sealedData"].as_str().unwrap().starts_with("v1:"));
        // A fresh nonce each time: two seals of one value differ.
        assert_ne!(key.seal_manifest(manifest.clone()), sealed);
        assert_eq!(key.open_manifest(sealed.clone()).unwrap(), manifest);
        let other = SecretKey::generate();
        let err = other.open_manifest(sealed).unwrap_err().to_string();
        assert!(err.contains("another secret.key"), "{err}");
    }

    #[test]
    fn the_key_file_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::load_or_create(dir.path()).unwrap();
        let again = SecretKey::load_or_create(dir.path()).unwrap();
        assert_eq!(key.hex(), again.hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(KEY_FILE), "nonsense").unwrap();
        let err = SecretKey::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("not 64 hex digits"), "{err}");
    }
}
