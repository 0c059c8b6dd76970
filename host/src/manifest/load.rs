//! Reading manifest files: YAML documents → validated [`Object`]s, or the first
//! problem as a [`ManifestError`].

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_yaml_ng::Value;

use super::{
    APPS_V1, BATCH_V1, CORE_V1, Config, CronJob, CronJobSpec, DaemonSet, DaemonSetSpec, FieldError,
    Job, JobSpec, Kind, ManifestError, Object, ObjectMeta, SCHEDULING_V1,
};

/// One object and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file as the user named it.
    pub file: String,
    /// 1-based document index in the file.
    pub index: usize,
    /// The directory relative `image` and `hostPath` paths are resolved from.
    pub base_dir: PathBuf,
    /// The validated object, defaults filled.
    pub object: Object,
    /// What was taken out of it and why (see `ignored`): one line each, for
    /// `Warning:` lines, or refusals with `--strict`.
    pub warnings: Vec<String>,
}

impl Document {
    /// An error about this document.
    pub fn error(&self, error: FieldError) -> ManifestError {
        ManifestError {
            file: self.file.clone(),
            document: Some(self.index),
            error,
        }
    }
}

/// Loads every object of a manifest file.
pub fn load_file(path: &Path) -> Result<Vec<Document>, ManifestError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
        file: shown.clone(),
        document: None,
        error: FieldError::new("", format!("cannot read the manifest: {e}")),
    })?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    load_str(&text, &shown, base)
}

/// Loads every object of manifest text; `file` names it in errors and
/// `base_dir` anchors relative paths.
pub fn load_str(text: &str, file: &str, base_dir: &Path) -> Result<Vec<Document>, ManifestError> {
    let mut docs = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let fail = |error: FieldError| ManifestError {
            file: file.to_owned(),
            document: Some(index),
            error,
        };
        let mut value = Value::deserialize(de)
            .map_err(|e| fail(FieldError::new("", format!("not valid YAML: {e}"))))?;
        if value.is_null() {
            continue;
        }
        // As the API server reads it: a field set to null is not set
        // (`tolerations:` with nothing after it, a chart's empty value).
        drop_nulls(&mut value);
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
        let kind = kind.to_owned();
        let warnings = super::ignored::strip(&mut value, &kind);
        let object = parse_object(value).map_err(fail)?;
        docs.push(Document {
            file: file.to_owned(),
            index,
            base_dir: base_dir.to_path_buf(),
            object,
            warnings,
        });
    }
    if docs.is_empty() {
        return Err(ManifestError {
            file: file.to_owned(),
            document: None,
            error: FieldError::new(
                "",
                "holds no objects: expected a Job, CronJob, DaemonSet, ConfigMap, Secret or PriorityClass",
            ),
        });
    }
    Ok(docs)
}

/// Removes every mapping entry whose value is null, at any depth.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Mapping(map) => {
            map.retain(|_, v| !v.is_null());
            for (_, v) in map.iter_mut() {
                drop_nulls(v);
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn parse_object(value: Value) -> Result<Object, FieldError> {
    let Value::Mapping(map) = &value else {
        return Err(FieldError::new(
            "",
            "must be a mapping with apiVersion, kind, metadata and spec",
        ));
    };
    let text = |key: &str| match map.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(FieldError::new(key, "must be a string")),
        None => Err(FieldError::new(key, "is required")),
    };
    let kind = text("kind")?;
    let api_version = text("apiVersion")?;
    let expect_api = |wanted: &str, also: &[&str]| {
        if api_version == wanted || also.contains(&api_version.as_str()) {
            Ok(())
        } else {
            Err(FieldError::new(
                "apiVersion",
                format!("{kind} is {wanted}, got {api_version:?}"),
            ))
        }
    };
    match kind.as_str() {
        "Job" => {
            expect_api(BATCH_V1, &[])?;
            let (mut metadata, mut spec) = typed::<JobSpec>(value)?;
            metadata.normalize("metadata", 63)?;
            spec.normalize("spec")?;
            Ok(Object::Job(Job { metadata, spec }))
        }
        "CronJob" => {
            // The seed documents still use batch/v1beta1, removed from
            // Kubernetes in 1.25; its CronJob shape is the same (read with
            // Kubernetes' deprecation warning, see `ignored`).
            expect_api(BATCH_V1, &["batch/v1beta1"])?;
            let (mut metadata, mut spec) = typed::<CronJobSpec>(value)?;
            // 52, not 63: the Jobs a CronJob creates append 11 characters.
            metadata.normalize("metadata", 52)?;
            spec.normalize("spec")?;
            Ok(Object::CronJob(CronJob { metadata, spec }))
        }
        "DaemonSet" => {
            // Retired versions read as apps/v1, with Kubernetes'
            // deprecation warning (see `ignored`).
            expect_api(APPS_V1, &["apps/v1beta2", "extensions/v1beta1"])?;
            let (mut metadata, mut spec) = typed::<DaemonSetSpec>(value)?;
            metadata.normalize("metadata", 63)?;
            spec.normalize("spec")?;
            Ok(Object::DaemonSet(DaemonSet { metadata, spec }))
        }
        "ConfigMap" | "Secret" => {
            expect_api(CORE_V1, &[])?;
            let kind = Kind::parse(&kind).expect("matched above");
            Config::parse(kind, value, explain).map(Object::Config)
        }
        "PriorityClass" => {
            expect_api(SCHEDULING_V1, &["scheduling.k8s.io/v1beta1"])?;
            Config::parse(Kind::PriorityClass, value, explain).map(Object::Config)
        }
        "Namespace" => {
            expect_api(CORE_V1, &[])?;
            Config::parse(Kind::Namespace, value, explain).map(Object::Config)
        }
        "NetworkPolicy" => {
            expect_api(super::network::NETWORKING_V1, &["extensions/v1beta1"])?;
            Config::parse(Kind::NetworkPolicy, value, explain).map(Object::Config)
        }
        "ServiceAccount" | "ResourceQuota" | "LimitRange" => {
            expect_api(CORE_V1, &[])?;
            let kind = Kind::parse(&kind).expect("matched above");
            Config::parse(kind, value, explain).map(Object::Config)
        }
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => {
            expect_api(super::rbac::RBAC_V1, &[])?;
            let kind = Kind::parse(&kind).expect("matched above");
            Config::parse(kind, value, explain).map(Object::Config)
        }
        other => Err(FieldError::new(
            "kind",
            format!(
                "unknown kind {other:?}: wasmjob runs Job, CronJob and DaemonSet objects \
                 and stores ConfigMap, Secret, PriorityClass, Namespace, NetworkPolicy, \
                 ServiceAccount, Role, ClusterRole, RoleBinding, ClusterRoleBinding, \
                 ResourceQuota and LimitRange objects"
            ),
        )),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[serde(bound = "S: DeserializeOwned + Default")]
struct Raw<S> {
    #[serde(rename = "apiVersion")]
    _api_version: IgnoredAny,
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: S,
    // `get -o yaml` output carries a status; applying it again is fine.
    #[serde(default, rename = "status")]
    _status: Option<IgnoredAny>,
}

fn typed<S: DeserializeOwned + Default>(value: Value) -> Result<(ObjectMeta, S), FieldError> {
    match serde_path_to_error::deserialize::<_, Raw<S>>(value) {
        Ok(raw) => Ok((raw.metadata, raw.spec)),
        Err(err) => {
            let path = match err.path().to_string() {
                p if p == "." => String::new(),
                p => p,
            };
            Err(explain(path, err.into_inner().to_string()))
        }
    }
}

/// Kubernetes fields that only mean something for containers.
const CONTAINER_ONLY: &[&str] = &["volumeDevices"];

/// Kubernetes fields with a meaning wasmjob does not implement (yet); refusing
/// them is better than silently running something else than was asked.
const NOT_IMPLEMENTED: &[&str] = &[
    "selector",
    "manualSelector",
    "podReplacementPolicy",
    "managedBy",
    "preferredDuringSchedulingIgnoredDuringExecution",
    "podAffinity",
    "podAntiAffinity",
    "matchFields",
    "nfs",
    "csi",
    "ephemeral",
    "subPath",
    "subPathExpr",
];

/// Rewrites serde's unknown-field message for fields a Kubernetes user is
/// likely to carry over. The path already ends with the unknown field.
fn explain(at: String, message: String) -> FieldError {
    let Some(field) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
    else {
        return FieldError::new(at, message);
    };
    if CONTAINER_ONLY.contains(&field) {
        FieldError::new(
            at,
            "only makes sense for containers; a Wasm sandbox has no block devices: remove it",
        )
    } else if NOT_IMPLEMENTED.contains(&field) {
        FieldError::new(
            at,
            "is a Kubernetes field wasmjob does not support yet: remove it",
        )
    } else {
        FieldError::new(
            at,
            message.replacen(&format!("unknown field `{field}`"), "unknown field", 1),
        )
    }
}
