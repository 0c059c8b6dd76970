//! Turning loaded manifests into objects ready to store: each module read
//! where the manifest is and replaced by its digest, relative host paths
//! made absolute ([`localize`]), then admitted ([`resolve`], see
//! [`crate::admission`]). Nothing is written until every document passed.

use std::path::Path;
use std::sync::Arc;

use crate::admission::{self, ModuleBlob, Refused};
use crate::manifest::{Config, Container, Document, FieldError, Kind, ManifestError, Object};
use crate::module::{self, ImageRef};
use crate::oci::OciError;
use crate::oci::allowed::AllowedRegistries;
use crate::oci::credentials::PullSecret;
use crate::runtime::{Prepared, Runtime, is_component};
use crate::secrets::Keyring;
use crate::store::{ObjectRecord, Write};
use crate::store::{Store, StoreError};

/// An object whose images are digests and whose paths are absolute, its
/// modules admitted.
pub struct Resolved {
    /// Where it came from, for error messages.
    pub document: Document,
    /// The modules read where the manifest is (one per distinct image;
    /// none for `sha256:` images, which the store has).
    pub modules: Vec<ModuleBlob>,
    /// The module, compiled and linked.
    pub prepared: Arc<Prepared>,
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

/// A document as [`localize`] leaves it, with the modules it read (one per
/// distinct image; none for a `sha256:` image, which the store resolves).
pub type Localized = (Document, Vec<ModuleBlob>);

/// Admits every localized document (see [`crate::admission`]). The store
/// is only read (for `sha256:` images).
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
    (doc, modules): Localized,
    runtime: &Runtime,
    store: &Store,
) -> Result<Resolved, ApplyError> {
    let admitted = match admission::admit(&doc.object, &modules, runtime, store) {
        Ok(admitted) => admitted,
        Err(Refused::Invalid(e)) => return Err(doc.error(e).into()),
        Err(Refused::Store(e)) => return Err(e.into()),
    };
    Ok(Resolved {
        document: doc,
        modules,
        prepared: admitted.prepared,
    })
}

/// What can be done where the manifest is: a file image is read (text
/// converted to binary) and replaced by its digest, returned with its bytes;
/// a `sha256:` image is kept for the store to resolve; relative `hostPath`s
/// become absolute. Nothing is compiled here: the CLI calls this before
/// sending objects to a server, which compiles them.
pub fn localize(doc: Document, secrets: PullSecrets<'_>) -> Result<Localized, ManifestError> {
    read_image(doc, secrets, None).map(name_by_digest)
}

/// As [`localize`], for a node that takes over what fails to pull: a
/// Job's registry image that cannot be pulled now (the registry's
/// `ErrImagePull`, an unauthorized pull, `ErrImageNeverPull`) is left as
/// written, for the node to pull with back-off (see
/// [`crate::controller::image_pull`]); what failed is returned, one line
/// per image, for the client to be told. Anything else still refuses.
pub fn localize_for_node(
    doc: Document,
    secrets: PullSecrets<'_>,
) -> Result<(Localized, Vec<String>), ManifestError> {
    let mut left = Vec::new();
    let localized = read_image(doc, secrets, Some(&mut left)).map(name_by_digest)?;
    Ok((localized, left))
}

/// Where a template's `imagePullSecrets` are found: (namespace, name) →
/// the Secret's `.dockerconfigjson`, if it exists and has one.
pub type PullSecrets<'a> = &'a dyn Fn(&str, &str) -> Option<Vec<u8>>;

/// No pull secrets anywhere: the user's Docker config alone.
pub fn no_pull_secrets(_namespace: &str, _name: &str) -> Option<Vec<u8>> {
    None
}

/// The key of a `kubernetes.io/dockerconfigjson` Secret that holds it.
pub const DOCKER_CONFIG_KEY: &str = ".dockerconfigjson";

/// The `.dockerconfigjson` of `namespace/name` among `secrets` (as
/// [`pull_secrets_among`] lists them).
pub fn pull_secret_in(
    secrets: &[(String, String, Vec<u8>)],
    namespace: &str,
    name: &str,
) -> Option<Vec<u8>> {
    let found = secrets
        .iter()
        .find(|(ns, n, _)| ns == namespace && n == name);
    found.map(|(_, _, json)| json.clone())
}

/// The `.dockerconfigjson` of the Secrets among `docs`, by (namespace,
/// name): an apply's pull secrets may come with it.
pub fn pull_secrets_among(docs: &[Document]) -> Vec<(String, String, Vec<u8>)> {
    let secrets = docs.iter().filter_map(|doc| match &doc.object {
        Object::Config(c) if c.kind == Kind::Secret => {
            let json = c.data.get(DOCKER_CONFIG_KEY)?.clone();
            Some((c.metadata.namespace.clone(), c.metadata.name.clone(), json))
        }
        _ => None,
    });
    secrets.collect()
}

/// The annotation (on the template, so every instance has it) that keeps
/// the registry image a container's module was pulled from, pinned:
/// `image.wasmjob.dev/<container>: registry/repo:tag@sha256:…` — a Pod's
/// `imageID`.
pub const IMAGE_ID_PREFIX: &str = "image.wasmjob.dev/";

/// A document whose image files are read, not yet named by their
/// digests: each container's bytes (init containers first), `None` for a
/// `sha256:` image.
pub type ReadImage = (Document, Vec<Option<Vec<u8>>>);

/// The first half of [`localize`]: everything that can fail. Each
/// container's file image is read (text converted to binary), a registry
/// image fetched (with the template's `imagePullSecrets` as `secrets`
/// finds them), a `sha256:` image normalised, and relative `hostPath`s
/// made absolute. With `left`, a Job's registry image that cannot be
/// pulled now is left as written and what failed is added to `left`.
pub fn read_image(
    mut doc: Document,
    secrets: PullSecrets<'_>,
    mut left: Option<&mut Vec<String>>,
) -> Result<ReadImage, ManifestError> {
    let kind = doc.object.kind();
    let namespace = doc.object.metadata().namespace.clone();
    let base = doc.base_dir.clone();
    let Some(template) = doc.object.template_mut() else {
        // A ConfigMap or Secret runs no module.
        return Ok((doc, Vec::new()));
    };
    // `imagePullSecrets` that exist and hold a Docker config.
    let pull_secrets: Vec<PullSecret> = (template.spec.image_pull_secrets.iter())
        .filter_map(|s| Some((s.name.clone(), secrets(&namespace, &s.name)?)))
        .collect();
    let mut read = Vec::new();
    let mut image_ids = Vec::new();
    let mut failure = None;
    let paths = admission::container_paths(kind, &template.spec);
    for (container, at) in template.spec.all_containers_mut().zip(paths) {
        let fail = |message: String| FieldError::new(format!("{at}.image"), message);
        match module::parse_image(&container.image, &base) {
            Err(e) => failure = Some(fail(e.to_string())),
            Ok(ImageRef::Digest(digest)) => {
                container.image = digest;
                read.push(None);
            }
            Ok(ImageRef::File(path)) => match module::read_module(&path) {
                Ok(bytes) => read.push(Some(bytes)),
                Err(e) => failure = Some(fail(e.to_string())),
            },
            // Pulled now, and pinned: the object names the module by its
            // digest, so every instance and retry runs these bytes even if
            // the tag moves; the pinned reference stays as an annotation.
            Ok(ImageRef::Registry(reference)) => match pin(&reference, container, &pull_secrets) {
                Ok((image_id, bytes)) => {
                    image_ids.push(image_id);
                    read.push(Some(bytes));
                }
                Err(e) if kind == Kind::Job && e.node_retries() && left.is_some() => {
                    if let Some(left) = left.as_deref_mut() {
                        left.push(format!("{at}.image: {e}"));
                    }
                    container.image = reference;
                    read.push(None);
                }
                Err(e) => failure = Some(fail(e.to_string())),
            },
        }
        if failure.is_some() {
            break;
        }
    }
    if let Some(error) = failure {
        return Err(doc.error(error));
    }
    template.metadata.annotations.extend(image_ids);
    for volume in &mut template.spec.volumes {
        if let Some(host) = &mut volume.host_path {
            host.path = absolute(&base, &host.path);
        }
    }
    Ok((doc, read))
}

/// Fetches the registry image of `container` (by its `imagePullPolicy`,
/// with `secrets`): the pinned-reference annotation (see
/// [`IMAGE_ID_PREFIX`]) and the module's bytes.
fn pin(
    image: &str,
    container: &Container,
    secrets: &[PullSecret],
) -> Result<((String, String), Vec<u8>), OciError> {
    let pulled = crate::oci::fetch(image, container.image_pull_policy, secrets)?;
    let key = format!("{IMAGE_ID_PREFIX}{}", container.name);
    Ok(((key, pulled.image_id), pulled.bytes))
}

/// A registry image a node could not pull for a waiting Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullFailed {
    /// The image, as written.
    pub image: String,
    /// Kubernetes' reason (`ErrImagePull`, `ErrImageNeverPull`), or
    /// `CreateContainerError` for a module that cannot run as it is.
    pub reason: &'static str,
    /// What went wrong (never a credential).
    pub message: String,
}

/// A node's pull of the registry images a waiting Job's template still
/// names (those [`localize_for_node`] left): each is fetched, pinned as at
/// apply, and named by its digest; the modules read are returned. The
/// first image that cannot be had stops it.
pub fn pull_left(
    mut object: Object,
    secrets: &[PullSecret],
) -> Result<(Object, Vec<ModuleBlob>), PullFailed> {
    let mut modules: Vec<ModuleBlob> = Vec::new();
    let Some(template) = object.template_mut() else {
        return Ok((object, modules));
    };
    let mut image_ids = Vec::new();
    for container in template.spec.all_containers_mut() {
        if !crate::oci::is_reference(&container.image) {
            continue;
        }
        let (image_id, bytes) =
            pin(&container.image, container, secrets).map_err(|e| PullFailed {
                image: container.image.clone(),
                reason: e.reason(),
                message: e.detail(),
            })?;
        image_ids.push(image_id);
        let digest = module::digest(&bytes);
        container.image = digest.clone();
        if !modules.iter().any(|m| m.digest == digest) {
            modules.push(ModuleBlob { digest, bytes });
        }
    }
    template.metadata.annotations.extend(image_ids);
    Ok((object, modules))
}

/// The pinned registry reference (see [`IMAGE_ID_PREFIX`]) of the
/// container of `object` whose module is `digest`, if it came from one.
pub fn pinned_reference(object: &Object, digest: &str) -> Option<String> {
    let template = object.template()?;
    let container = template.spec.all_containers().find(|c| c.image == digest)?;
    let key = format!("{IMAGE_ID_PREFIX}{}", container.name);
    template.metadata.annotations.get(&key).cloned()
}

/// The modules of `object` this node's `store` lacks (nor has its
/// cluster) whose containers its template pins to a registry image:
/// pulled by the pinned reference (this machine's cache first, with the
/// template's `imagePullSecrets`) and checked against the digest the
/// object names. In a cluster every node pulls a registry image so for
/// itself, as each kubelet does: its bytes do not travel through the
/// cluster's database (see `Write::Module::pulled_from`).
///
/// With `allowed` (`serve --allowed-registries`), every container must be
/// a registry image under the list — pinned, or still to pull — and every
/// pinned one is pulled (the cache first) and checked, whatever the store
/// or the client had: what runs is what the registry holds.
pub fn pull_pinned(
    object: &Object,
    store: &Store,
    keyring: &Keyring,
    allowed: Option<&AllowedRegistries>,
) -> Result<Vec<ModuleBlob>, Refused> {
    let mut modules: Vec<ModuleBlob> = Vec::new();
    let Some(template) = object.template() else {
        return Ok(modules);
    };
    let names: Vec<String> = (template.spec.image_pull_secrets.iter())
        .map(|s| s.name.clone())
        .collect();
    let mut secrets = None;
    let paths = admission::container_paths(object.kind(), &template.spec);
    for (container, at) in template.spec.all_containers().zip(paths) {
        let refuse =
            |message: String| Refused::Invalid(FieldError::new(format!("{at}.image"), message));
        let key = format!("{IMAGE_ID_PREFIX}{}", container.name);
        let pinned = template.metadata.annotations.get(&key);
        if let Some(allowed) = allowed {
            check_allowed(container, pinned, allowed).map_err(refuse)?;
        }
        let Some(pinned) = pinned else {
            continue;
        };
        let digest = &container.image;
        // Under a list of allowed registries, what the store has is
        // checked again too.
        let stored = |digest| -> Result<bool, StoreError> {
            Ok(allowed.is_none() && store.module(digest)?.is_some())
        };
        if modules.iter().any(|m| &m.digest == digest) || stored(digest)? {
            continue;
        }
        let namespace = &object.metadata().namespace;
        let secrets =
            secrets.get_or_insert_with(|| stored_pull_secrets(store, keyring, namespace, &names));
        let pulled = crate::oci::fetch(pinned, Some(crate::oci::PullPolicy::IfNotPresent), secrets)
            .map_err(|e| refuse(e.to_string()))?;
        let found = module::digest(&pulled.bytes);
        if &found != digest {
            return Err(refuse(format!(
                "{pinned} holds the module {found}, not {digest} which the object names"
            )));
        }
        modules.push(ModuleBlob {
            digest: found,
            bytes: pulled.bytes,
        });
    }
    Ok(modules)
}

/// Whether `container` (pinned to `pinned`, if it is) may run on a node
/// that allows only `allowed`: what is wrong, if not.
fn check_allowed(
    container: &Container,
    pinned: Option<&String>,
    allowed: &AllowedRegistries,
) -> Result<(), String> {
    let image = container.image.as_str();
    let written = match pinned {
        Some(pinned) => pinned.as_str(),
        None if crate::oci::is_reference(image) => image,
        None => {
            return Err(format!(
                "a module not pulled from a registry (a file, or a stored digest) is not allowed \
                 on this node, which runs only registry images under {} (serve \
                 --allowed-registries): push it with `wasmjob push` and name the image",
                allowed.describe()
            ));
        }
    };
    match allowed.allows(written) {
        true => Ok(()),
        false => Err(format!(
            "{written} is not under a registry this node allows ({}, serve \
             --allowed-registries): push it to one of them",
            allowed.describe()
        )),
    }
}

/// Whether `object`'s template still names a registry image: a Job left
/// for its node to pull (see [`localize_for_node`]).
pub fn waits_for_pull(object: &Object) -> bool {
    admission::pod_spec(object).is_some_and(pod_waits_for_pull)
}

/// Whether `pod` still names a registry image (see [`waits_for_pull`]).
pub fn pod_waits_for_pull(pod: &crate::manifest::PodSpec) -> bool {
    pod.all_containers()
        .any(|c| crate::oci::is_reference(&c.image))
}

/// The `.dockerconfigjson` of `namespace`'s Secrets among `names`, from
/// the node's `store` (opened with `keyring`); those missing or unreadable
/// are left out (a pull then says which credentials it tried).
pub fn stored_pull_secrets(
    store: &Store,
    keyring: &Keyring,
    namespace: &str,
    names: &[String],
) -> Vec<PullSecret> {
    let kind = crate::manifest::Kind::Secret;
    let json_of = |name: &String| {
        let record = store.live_object(kind, namespace, name).ok().flatten()?;
        let opened = keyring.open(kind, record.manifest).ok()?;
        let config = Config::from_stored(kind, &opened).ok()?;
        let json = config.data.get(DOCKER_CONFIG_KEY)?.clone();
        Some((name.clone(), json))
    };
    names.iter().filter_map(json_of).collect()
}

/// The second half of [`localize`]: read images are hashed and the
/// document names them by their digests.
pub fn name_by_digest((mut doc, read): ReadImage) -> Localized {
    let mut modules: Vec<ModuleBlob> = Vec::new();
    let Some(template) = doc.object.template_mut() else {
        return (doc, modules);
    };
    for (container, bytes) in template.spec.all_containers_mut().zip(read) {
        let Some(bytes) = bytes else {
            continue;
        };
        let digest = module::digest(&bytes);
        container.image = digest.clone();
        if !modules.iter().any(|m| m.digest == digest) {
            modules.push(ModuleBlob { digest, bytes });
        }
    }
    (doc, modules)
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
    for module in resolved.iter().flat_map(|r| &r.modules) {
        store.put_module(
            &module.digest,
            is_component(&module.bytes),
            &module.bytes,
            now,
        )?;
    }
    Ok(())
}

/// What applying a ConfigMap or Secret does: the write that creates or
/// changes its row (a Secret's values sealed), or nothing.
#[derive(Debug)]
pub enum ConfigPlan {
    /// A new object.
    Create(Write),
    /// New values or labels for the live object.
    Configure(Write),
    /// The live object already says this.
    Unchanged,
}

/// Plans the apply of `config` over the live object `existing` of its kind
/// and name, if any: the field and message of a refusal otherwise (an
/// `immutable` object's values may not change, as in Kubernetes).
pub fn plan_config(
    config: &Config,
    existing: Option<&ObjectRecord>,
    keyring: &Keyring,
    now: i64,
) -> Result<ConfigPlan, (&'static str, String)> {
    let kind = config.kind;
    let plain = config.stored_json();
    let sealed = |value| keyring.seal(kind, value).map_err(|e| ("data", e));
    let Some(existing) = existing else {
        let record = ObjectRecord {
            uid: crate::ids::uid(),
            kind,
            namespace: config.metadata.namespace.clone(),
            name: config.metadata.name.clone(),
            labels: config.metadata.labels.clone(),
            manifest: sealed(plain)?,
            status: serde_json::json!({}),
            created_at: now,
            deleted_at: None,
        };
        return Ok(ConfigPlan::Create(Write::ObjectCreated(record)));
    };
    let old = keyring
        .open(kind, existing.manifest.clone())
        .map_err(|e| ("data", e))?;
    if old == plain {
        return Ok(ConfigPlan::Unchanged);
    }
    // As in Kubernetes, a binding grants one role for its life: granting
    // another is deleting it and binding anew.
    if matches!(
        kind,
        crate::manifest::Kind::RoleBinding | crate::manifest::Kind::ClusterRoleBinding
    ) && old["roleRef"] != plain["roleRef"]
    {
        return Err((
            "roleRef",
            format!(
                "Invalid value: {}: cannot change roleRef: delete the binding and create it \
                 again",
                plain["roleRef"]
            ),
        ));
    }
    let values = |v: &serde_json::Value| {
        (
            v["data"].clone(),
            v["binaryData"].clone(),
            v["immutable"].clone(),
        )
    };
    if old["immutable"] == serde_json::json!(true) && values(&old) != values(&plain) {
        return Err((
            "data",
            "field is immutable when `immutable` is set: delete the object and create it again"
                .to_owned(),
        ));
    }
    Ok(ConfigPlan::Configure(Write::ObjectManifest {
        uid: existing.uid.clone(),
        manifest: sealed(plain)?,
        labels: config.metadata.labels.clone(),
    }))
}
