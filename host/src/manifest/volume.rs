//! Volumes: the host directories, scratch directories, claims and files
//! made from ConfigMaps, Secrets and the instance's own fields that a
//! template's containers may mount, and their rules. The executor makes
//! them for each attempt (see `executor::sandbox`).

use serde::{Deserialize, Serialize};

use super::validate::{self, Check, required};
use super::{FieldError, FieldSelector, ResourceFieldSelector, parse_memory_quantity};

/// A named volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Volume {
    /// Referred to by `volumeMounts[].name`.
    pub name: String,
    /// A directory of the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathVolume>,
    /// A fresh empty directory per instance, removed when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolume>,
    /// A ConfigMap's keys as files, read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolume>,
    /// A Secret's keys as files, read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolume>,
    /// Files of several ConfigMaps, Secrets and the instance's own fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected: Option<ProjectedVolume>,
    /// The instance's own fields as files.
    #[serde(
        default,
        rename = "downwardAPI",
        skip_serializing_if = "Option::is_none"
    )]
    pub downward_api: Option<DownwardApiVolume>,
    /// A directory of the node that outlives instances, by claim name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<ClaimVolume>,
}

/// `persistentVolumeClaim`: on a wasmjob node, the directory
/// `volumes/NAMESPACE/CLAIM` of its state directory, made at first use and
/// kept (as a local-path provisioner would); no PersistentVolumeClaim
/// object is needed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimVolume {
    /// The claim's name.
    #[serde(default)]
    pub claim_name: String,
    /// Every mount of it is read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

/// `configMap` (also a `projected` source).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMapVolume {
    /// The ConfigMap, in the instance's namespace.
    #[serde(default)]
    pub name: String,
    /// Only these keys, at these paths; every key at its own name otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// The files' mode (0644 by default).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "file_mode"
    )]
    pub default_mode: Option<i32>,
    /// A missing ConfigMap (or item key) gives no files instead of keeping
    /// the instance waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// `secret` (a `projected` source names it `name` instead).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretVolume {
    /// The Secret, in the instance's namespace.
    #[serde(default)]
    pub secret_name: String,
    /// Only these keys, at these paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<KeyToPath>,
    /// The files' mode (0644 by default).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "file_mode"
    )]
    pub default_mode: Option<i32>,
    /// A missing Secret gives no files instead of keeping the instance
    /// waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// A key and the relative path of its file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyToPath {
    /// The key.
    pub key: String,
    /// Relative, without `..`.
    pub path: String,
    /// This file's mode.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "file_mode"
    )]
    pub mode: Option<i32>,
}

/// `projected`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectedVolume {
    /// What to put in the directory, in order (a later file of the same
    /// path wins).
    #[serde(default)]
    pub sources: Vec<VolumeProjection>,
    /// The files' mode (0644 by default).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "file_mode"
    )]
    pub default_mode: Option<i32>,
}

/// One source of a `projected` volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeProjection {
    /// A ConfigMap's keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolume>,
    /// A Secret's keys (`name`, as in a ConfigMap source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ConfigMapVolume>,
    /// The instance's own fields.
    #[serde(
        default,
        rename = "downwardAPI",
        skip_serializing_if = "Option::is_none"
    )]
    pub downward_api: Option<DownwardApiVolume>,
}

/// `downwardAPI`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DownwardApiVolume {
    /// One file per field.
    #[serde(default)]
    pub items: Vec<DownwardApiFile>,
    /// The files' mode (0644 by default).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "file_mode"
    )]
    pub default_mode: Option<i32>,
}

/// One file of a `downwardAPI` volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DownwardApiFile {
    /// Relative, without `..`.
    pub path: String,
    /// A field of the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldSelector>,
    /// A limit or request of a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldSelector>,
    /// This file's mode.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "file_mode"
    )]
    pub mode: Option<i32>,
}

/// `hostPath`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostPathVolume {
    /// An absolute path, or (a wasmjob extension) one relative to the manifest.
    pub path: String,
    /// `""`, `Directory`, `DirectoryOrCreate`, or `File`/`FileOrCreate`: a
    /// sandbox sees directories only, so a file is copied into a directory
    /// of the attempt mounted at the mount path's parent, and copied back
    /// when the attempt ends unless the mount is read-only.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `emptyDir`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmptyDirVolume {
    /// Accepted: `""` or `Memory` (both are a directory on disk here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    /// Accepted and validated as a quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<String>,
}

/// A volume made visible at a path inside the sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeMount {
    /// The volume's name.
    pub name: String,
    /// The absolute path the guest sees.
    pub mount_path: String,
    /// The guest may read but not write.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

impl Volume {
    /// Checks the volume at `path` (one source, its fields).
    pub(super) fn validate(&self, path: &str) -> Result<(), FieldError> {
        validate::dns_label(&self.name).at(&format!("{path}.name"))?;
        let sources = [
            ("hostPath", self.host_path.is_some()),
            ("emptyDir", self.empty_dir.is_some()),
            ("configMap", self.config_map.is_some()),
            ("secret", self.secret.is_some()),
            ("projected", self.projected.is_some()),
            ("downwardAPI", self.downward_api.is_some()),
            (
                "persistentVolumeClaim",
                self.persistent_volume_claim.is_some(),
            ),
        ];
        let given: Vec<_> = sources.iter().filter(|(_, set)| *set).collect();
        match given.as_slice() {
            [] => {
                return Err(FieldError::new(
                    path,
                    "needs a source: hostPath, emptyDir, configMap, secret, projected, downwardAPI \
                     or persistentVolumeClaim (the volume types wasmjob supports)",
                ));
            }
            [_] => {}
            [(a, _), (b, _), ..] => {
                return Err(FieldError::new(
                    path,
                    format!("has both {a} and {b}; a volume has exactly one source"),
                ));
            }
        }
        if let Some(host) = &self.host_path {
            if host.path.is_empty() {
                return Err(FieldError::new(
                    format!("{path}.hostPath.path"),
                    "is required",
                ));
            }
            return match host.kind.as_deref() {
                None | Some("") | Some("Directory") | Some("DirectoryOrCreate") => Ok(()),
                Some("File") | Some("FileOrCreate") => Ok(()),
                Some(kind @ ("Socket" | "CharDevice" | "BlockDevice")) => Err(FieldError::new(
                    format!("{path}.hostPath.type"),
                    format!(
                        "unsupported value {kind:?}: a Wasm sandbox opens no host sockets or \
                         devices (use Directory, DirectoryOrCreate, File, FileOrCreate or leave \
                         it empty)"
                    ),
                )),
                Some(other) => Err(FieldError::new(
                    format!("{path}.hostPath.type"),
                    format!(
                        "unsupported value {other:?}: use Directory, DirectoryOrCreate, File, \
                         FileOrCreate or leave it empty"
                    ),
                )),
            };
        }
        if let Some(empty) = &self.empty_dir {
            if let Some(limit) = &empty.size_limit {
                parse_memory_quantity(limit).at(&format!("{path}.emptyDir.sizeLimit"))?;
            }
            return match empty.medium.as_deref() {
                None | Some("") | Some("Memory") => Ok(()),
                Some(other) => Err(FieldError::new(
                    format!("{path}.emptyDir.medium"),
                    format!("unsupported value {other:?}: use \"\" or Memory"),
                )),
            };
        }
        if let Some(config) = &self.config_map {
            return config.validate(&format!("{path}.configMap"), "name");
        }
        if let Some(secret) = &self.secret {
            let at = format!("{path}.secret");
            required(&secret.secret_name, &format!("{at}.secretName"))?;
            mode(secret.default_mode, &format!("{at}.defaultMode"))?;
            return items(&secret.items, &at);
        }
        if let Some(projected) = &self.projected {
            let at = format!("{path}.projected");
            mode(projected.default_mode, &format!("{at}.defaultMode"))?;
            for (i, source) in projected.sources.iter().enumerate() {
                let at = format!("{at}.sources[{i}]");
                match (&source.config_map, &source.secret, &source.downward_api) {
                    (Some(c), None, None) => c.validate(&format!("{at}.configMap"), "name")?,
                    (None, Some(s), None) => s.validate(&format!("{at}.secret"), "name")?,
                    (None, None, Some(d)) => d.validate(&format!("{at}.downwardAPI"))?,
                    _ => {
                        return Err(FieldError::new(
                            at,
                            "needs exactly one of configMap, secret or downwardAPI",
                        ));
                    }
                }
            }
            return Ok(());
        }
        if let Some(downward) = &self.downward_api {
            return downward.validate(&format!("{path}.downwardAPI"));
        }
        if let Some(claim) = &self.persistent_volume_claim {
            let at = format!("{path}.persistentVolumeClaim.claimName");
            return required(&claim.claim_name, &at);
        }
        Ok(())
    }
}

impl ConfigMapVolume {
    fn validate(&self, path: &str, name_field: &str) -> Result<(), FieldError> {
        required(&self.name, &format!("{path}.{name_field}"))?;
        mode(self.default_mode, &format!("{path}.defaultMode"))?;
        items(&self.items, path)
    }
}

impl DownwardApiVolume {
    fn validate(&self, path: &str) -> Result<(), FieldError> {
        mode(self.default_mode, &format!("{path}.defaultMode"))?;
        for (i, item) in self.items.iter().enumerate() {
            let at = format!("{path}.items[{i}]");
            relative_path(&item.path).at(&format!("{at}.path"))?;
            mode(item.mode, &format!("{at}.mode"))?;
            match (&item.field_ref, &item.resource_field_ref) {
                (Some(field), None) => {
                    super::downward::check_field(&field.field_path, true)
                        .at(&format!("{at}.fieldRef.fieldPath"))?;
                }
                (None, Some(resource)) => {
                    resource.validate(&format!("{at}.resourceFieldRef"))?;
                }
                _ => {
                    return Err(FieldError::new(
                        at,
                        "needs exactly one of fieldRef or resourceFieldRef",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Reads a file mode as Kubernetes' YAML does: `0644` is octal (YAML 1.1,
/// which this YAML reader leaves as text), `0o644` too, a plain number
/// (JSON's 420) decimal.
fn file_mode<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i32>, D::Error> {
    struct Mode;
    impl serde::de::Visitor<'_> for Mode {
        type Value = Option<i32>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a file mode such as 0644 or 420")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            i32::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("mode {v} is too large")))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i32::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("mode {v} is too large")))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let octal = v.strip_prefix("0o").or_else(|| v.strip_prefix('0'));
            let parsed = match octal {
                Some(digits) if !digits.is_empty() => i32::from_str_radix(digits, 8),
                _ => v.parse::<i32>(),
            };
            parsed
                .map(Some)
                .map_err(|_| E::custom(format!("invalid file mode {v:?}: use octal such as 0644")))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(Mode)
}

/// A file mode: 0 to 0777 (YAML's `0644` is octal, JSON's 420 decimal).
fn mode(mode: Option<i32>, path: &str) -> Result<(), FieldError> {
    match mode {
        Some(m) if !(0..=0o777).contains(&m) => Err(FieldError::new(
            path,
            format!("must be a file mode between 0 and 0777 (511), got {m}"),
        )),
        _ => Ok(()),
    }
}

fn items(items: &[KeyToPath], path: &str) -> Result<(), FieldError> {
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}.items[{i}]");
        if item.key.is_empty() {
            return Err(FieldError::new(format!("{at}.key"), "is required"));
        }
        relative_path(&item.path).at(&format!("{at}.path"))?;
        mode(item.mode, &format!("{at}.mode"))?;
    }
    Ok(())
}

/// A file's path inside a volume: relative, without `..`.
fn relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.starts_with('/') {
        return Err(format!("must be a relative path, got {path:?}"));
    }
    if path.split('/').any(|part| part == "..") {
        return Err(format!("must not contain '..', got {path:?}"));
    }
    Ok(())
}
