//! Turning loaded manifests into objects ready to store: each module read,
//! validated by compiling and linking it, and replaced by its digest; relative
//! host paths made absolute. Nothing is written until every document passed.

use std::path::Path;

use crate::manifest::{Document, FieldError, ManifestError, Object};
use crate::module::{self, ImageRef};
use crate::runtime::{DEFAULT_MEMORY_LIMIT, Runtime, is_component};
use crate::store::{Store, StoreError};

/// A module an object needs stored.
#[derive(Debug, Clone)]
pub struct ModuleBlob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// The module bytes.
    pub bytes: Vec<u8>,
}

/// An object whose image is a digest and whose paths are absolute.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Where it came from, for error messages.
    pub document: Document,
    /// The module it runs.
    pub module: ModuleBlob,
}

/// Why applying failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A document is wrong; nothing was stored.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

const IMAGE_PATH: &str = "spec.template.spec.containers[0].image";

fn image_path(object: &Object) -> String {
    match object {
        Object::CronJob(_) => "spec.jobTemplate.spec.template.spec.containers[0].image".to_owned(),
        _ => IMAGE_PATH.to_owned(),
    }
}

/// A document as [`localize`] leaves it, with the module it read (none for
/// a `sha256:` image, which the store resolves).
pub type Localized = (Document, Option<ModuleBlob>);

/// Resolves every localized document's module, checking each with the
/// runtime. The store is only read (for `sha256:` images).
pub fn resolve(
    docs: Vec<Localized>,
    runtime: &Runtime,
    store: &Store,
) -> Result<Vec<Resolved>, ApplyError> {
    docs.into_iter()
        .map(|doc| resolve_one(doc, runtime, store))
        .collect()
}

fn resolve_one(
    (doc, module): Localized,
    runtime: &Runtime,
    store: &Store,
) -> Result<Resolved, ApplyError> {
    let at = image_path(&doc.object);
    let module = match module {
        Some(module) => module,
        None => {
            let digest = template(&doc.object).containers[0].image.clone();
            match store.module(&digest)? {
                Some(bytes) => ModuleBlob { digest, bytes },
                None => {
                    let message =
                        format!("no stored module has digest {digest}: apply it from a file first");
                    return Err(doc.error(FieldError::new(at, message)).into());
                }
            }
        }
    };
    let prepared = match runtime.prepare(&module.digest, &module.bytes) {
        Ok(prepared) => prepared,
        Err(e) => return Err(doc.error(FieldError::new(at, e.to_string())).into()),
    };
    // A module whose declared initial memory is over the instance's limit
    // could never start: every instance would be OOMKilled before its first
    // instruction. Say so now rather than after a Job of failures.
    let container = &template(&doc.object).containers[0];
    let limit = container.memory_limit().unwrap_or(DEFAULT_MEMORY_LIMIT);
    let declared = prepared.initial_memory();
    if declared > limit {
        let message = format!(
            "the module declares {} of initial memory, more than the instance's memory limit of {}: \
             raise resources.limits.memory or build the module with a smaller initial memory",
            mebibytes(declared),
            mebibytes(limit)
        );
        return Err(doc.error(FieldError::new(at, message)).into());
    }
    Ok(Resolved {
        document: doc,
        module,
    })
}

/// Bytes as Kubernetes writes memory quantities, in whole MiB where exact.
fn mebibytes(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{}Mi", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

fn template(object: &Object) -> &crate::manifest::PodSpec {
    match object {
        Object::Job(o) => &o.spec.template.spec,
        Object::CronJob(o) => &o.spec.job_template.spec.template.spec,
        Object::DaemonSet(o) => &o.spec.template.spec,
    }
}

/// What can be done where the manifest is: a file image is read (text
/// converted to binary) and replaced by its digest, returned with its bytes;
/// a `sha256:` image is kept for the store to resolve; relative `hostPath`s
/// become absolute. Nothing is compiled here: the CLI calls this before
/// sending objects to a server, which compiles them.
pub fn localize(doc: Document) -> Result<Localized, ManifestError> {
    read_image(doc).map(name_by_digest)
}

/// A document whose image file is read, not yet named by its digest.
pub type ReadImage = (Document, Option<Vec<u8>>);

/// The first half of [`localize`]: everything that can fail. A file image
/// is read (text converted to binary), a `sha256:` image normalised, and
/// relative `hostPath`s made absolute.
pub fn read_image(mut doc: Document) -> Result<ReadImage, ManifestError> {
    let at = image_path(&doc.object);
    let base = doc.base_dir.clone();
    let template = doc.object.template_mut();
    let image = template.spec.containers[0].image.clone();
    let fail = |message: String| FieldError::new(at.clone(), message);
    let bytes = match module::parse_image(&image, &base) {
        Err(e) => return Err(doc.error(fail(e.to_string()))),
        Ok(ImageRef::Digest(digest)) => {
            template.spec.containers[0].image = digest;
            None
        }
        Ok(ImageRef::File(path)) => match module::read_module(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) => return Err(doc.error(fail(e.to_string()))),
        },
    };
    for volume in &mut template.spec.volumes {
        if let Some(host) = &mut volume.host_path {
            host.path = absolute(&base, &host.path);
        }
    }
    Ok((doc, bytes))
}

/// The second half of [`localize`]: a read image is hashed and the
/// document names it by its digest.
pub fn name_by_digest((mut doc, bytes): ReadImage) -> Localized {
    let module = bytes.map(|bytes| {
        let digest = module::digest(&bytes);
        doc.object.template_mut().spec.containers[0].image = digest.clone();
        ModuleBlob { digest, bytes }
    });
    (doc, module)
}

fn absolute(base: &Path, path: &str) -> String {
    let joined = base.join(path);
    let joined = if joined.is_absolute() {
        joined
    } else {
        std::env::current_dir()
            .map(|d| d.join(&joined))
            .unwrap_or(joined)
    };
    std::path::absolute(&joined)
        .unwrap_or(joined)
        .display()
        .to_string()
}

/// Stores the modules of resolved objects (content-addressed, idempotent).
pub fn store_modules(store: &Store, resolved: &[Resolved], now: i64) -> Result<(), StoreError> {
    for r in resolved {
        store.put_module(
            &r.module.digest,
            is_component(&r.module.bytes),
            &r.module.bytes,
            now,
        )?;
    }
    Ok(())
}
