//! Compiled modules on disk, keyed by content digest and engine fingerprint,
//! so a second `wasmjob run` of the same module does not recompile.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use super::RuntimeError;

/// The on-disk cache of one engine configuration.
pub struct CompiledCache {
    engine: Engine,
    dir: Option<PathBuf>,
}

impl CompiledCache {
    /// A cache under `root/<engine fingerprint>/`, or none.
    pub fn new(engine: &Engine, root: Option<PathBuf>) -> Self {
        let dir = root.map(|root| root.join(fingerprint(engine)));
        CompiledCache {
            engine: engine.clone(),
            dir,
        }
    }

    /// The core module with this digest, from the cache or compiled now.
    pub fn module(&self, digest: &str, bytes: &[u8]) -> Result<Module, RuntimeError> {
        let path = self.path(digest, "module");
        if let Some(path) = &path
            && let Some(module) = load_module(&self.engine, path)
        {
            return Ok(module);
        }
        // Text was converted at apply time; only binary reaches the engine.
        let module = Module::from_binary(&self.engine, bytes)
            .map_err(|e| RuntimeError::Invalid(super::one_line(&e)))?;
        if let Some(path) = path {
            store(&path, module.serialize());
        }
        Ok(module)
    }

    /// The component with this digest, from the cache or compiled now.
    pub fn component(&self, digest: &str, bytes: &[u8]) -> Result<Component, RuntimeError> {
        let path = self.path(digest, "component");
        if let Some(path) = &path
            && let Some(component) = load_component(&self.engine, path)
        {
            return Ok(component);
        }
        let component = Component::from_binary(&self.engine, bytes)
            .map_err(|e| RuntimeError::Invalid(super::one_line(&e)))?;
        if let Some(path) = path {
            store(&path, component.serialize());
        }
        Ok(component)
    }

    /// Whether the cache holds the compiled code of `digest`.
    pub fn has(&self, digest: &str, component: bool) -> bool {
        let kind = if component { "component" } else { "module" };
        self.path(digest, kind).is_some_and(|p| p.exists())
    }

    fn path(&self, digest: &str, kind: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        Some(self.dir.as_ref()?.join(format!("{hex}.{kind}.cwasm")))
    }
}

/// Identifies what compiled code this engine can load: wasmtime's own
/// compatibility hash (version, target, tunables) plus our version.
fn fingerprint(engine: &Engine) -> String {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

// SAFETY (both loaders): `deserialize_file` trusts the file to be wasmtime's own
// output. Only this cache writes these files, under the user's state directory
// and a fingerprint of this exact engine; a half-written file is impossible
// because `store` renames into place; and wasmtime still checks the header and
// engine compatibility, so a stale or foreign file fails and is recompiled.
#[allow(unsafe_code)]
fn load_module(engine: &Engine, path: &Path) -> Option<Module> {
    if !path.exists() {
        return None;
    }
    match unsafe { Module::deserialize_file(engine, path) } {
        Ok(module) => Some(module),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "recompiling: cached module unusable");
            None
        }
    }
}

#[allow(unsafe_code)]
fn load_component(engine: &Engine, path: &Path) -> Option<Component> {
    if !path.exists() {
        return None;
    }
    match unsafe { Component::deserialize_file(engine, path) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "recompiling: cached component unusable");
            None
        }
    }
}

/// Writes a compiled artifact atomically. A cache that cannot be written
/// only costs a recompile next time, so failures are logged, not returned.
fn store(path: &Path, artifact: wasmtime::Result<Vec<u8>>) {
    let write = || -> std::io::Result<()> {
        let bytes = artifact.map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        let dir = path.parent().expect("cache files live in a directory");
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{}.tmp", fastrand::u64(..)));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        tracing::warn!(path = %path.display(), error = %e, "cannot cache the compiled module");
    }
}
