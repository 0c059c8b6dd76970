//! Objects that hold values and run nothing: `v1` ConfigMaps and Secrets,
//! named maps of keys to bytes that instances read through
//! `env[].valueFrom`, `envFrom` and `configMap`, `secret` and `projected`
//! volumes (see [`crate::executor`]), and `scheduling.k8s.io/v1`
//! PriorityClasses, whose value orders the instances waiting for room on a
//! node (`priorityClassName`), and `networking.k8s.io/v1` NetworkPolicies,
//! which grant egress (see [`super::network`]). Applying one stores it;
//! the next attempt of every instance that refers to it sees its current
//! values.
//!
//! The manifest shapes are Kubernetes': a ConfigMap's `data` holds UTF-8
//! strings and its `binaryData` base64; a Secret's `data` holds base64 and
//! its `stringData` plain strings, merged over `data` when read (the API
//! server does the same, and never returns `stringData`).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

use super::network::NetworkPolicySpec;
use super::priority_class::{Priority, RawPriorityClass};
use super::quota::{Limits, RawLimitRange, RawQuota};
use super::rbac::{self, Access};
use super::{FieldError, Kind, ObjectMeta};

/// The largest ConfigMap or Secret, as in Kubernetes (1 MiB of values).
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// A ConfigMap or a Secret, read and checked. Values are bytes: a
/// ConfigMap's `data` entry is UTF-8, its `binaryData` entry anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// [`Kind::ConfigMap`] or [`Kind::Secret`].
    pub kind: Kind,
    /// Name, namespace, labels, annotations.
    pub metadata: ObjectMeta,
    /// Every key and its value.
    pub data: BTreeMap<String, Vec<u8>>,
    /// A ConfigMap's keys that came as `binaryData` (shown so again).
    pub binary_keys: Vec<String>,
    /// `immutable: true`: the values may not change once stored.
    pub immutable: bool,
    /// A Secret's `type` (`Opaque` when absent).
    pub secret_type: Option<String>,
    /// A PriorityClass's fields.
    pub priority: Option<Priority>,
    /// A NetworkPolicy's spec.
    pub network: Option<NetworkPolicySpec>,
    /// A ServiceAccount's, Role's or binding's fields (see [`super::rbac`]).
    pub access: Option<Access>,
    /// A ResourceQuota's or LimitRange's spec (see [`super::quota`]).
    pub limits: Option<Limits>,
}

/// A Namespace: its metadata; `spec.finalizers` and `status` are the API
/// server's and read as nothing.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawNamespace {
    #[serde(rename = "apiVersion")]
    _api_version: serde::de::IgnoredAny,
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default, rename = "spec")]
    _spec: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "status")]
    _status: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawNetworkPolicy {
    #[serde(rename = "apiVersion")]
    _api_version: serde::de::IgnoredAny,
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: NetworkPolicySpec,
    #[serde(default, rename = "status")]
    _status: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawConfigMap {
    #[serde(rename = "apiVersion")]
    _api_version: serde::de::IgnoredAny,
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    binary_data: BTreeMap<String, String>,
    #[serde(default)]
    immutable: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSecret {
    #[serde(rename = "apiVersion")]
    _api_version: serde::de::IgnoredAny,
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    string_data: BTreeMap<String, String>,
    #[serde(default, rename = "type")]
    secret_type: Option<String>,
    #[serde(default)]
    immutable: Option<bool>,
}

/// Standard base64, as the API server reads it (padding required).
pub fn decode(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("is not valid base64 ({e}): encode the value, or use stringData"))
}

/// Standard base64.
pub fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Deserializes `value` as `T`, with the field path of the first problem
/// (`explain` words it as the loader words every other kind's).
fn typed<T: serde::de::DeserializeOwned>(
    value: serde_yaml_ng::Value,
    explain: fn(String, String) -> FieldError,
) -> Result<T, FieldError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|err| {
        let path = match err.path().to_string() {
            p if p == "." => String::new(),
            p => p,
        };
        explain(path, err.into_inner().to_string())
    })
}

impl Config {
    /// Reads a ConfigMap or Secret (by `kind`) from its manifest.
    pub(super) fn parse(
        kind: Kind,
        value: serde_yaml_ng::Value,
        explain: fn(String, String) -> FieldError,
    ) -> Result<Config, FieldError> {
        let mut config = match kind {
            Kind::Secret => Self::secret(typed(value, explain)?)?,
            Kind::PriorityClass => Self::priority_class(typed(value, explain)?)?,
            Kind::Namespace => Self::namespace(typed(value, explain)?)?,
            Kind::NetworkPolicy => Self::network_policy(typed(value, explain)?)?,
            Kind::ServiceAccount => {
                let raw: rbac::RawServiceAccount = typed(value, explain)?;
                Self::holding(
                    kind,
                    raw.metadata,
                    Access::ServiceAccount {
                        automount: raw.automount,
                    },
                )
            }
            Kind::Role | Kind::ClusterRole => {
                let raw: rbac::RawRole = typed(value, explain)?;
                rbac::check_role(kind, &raw)?;
                Self::holding(kind, raw.metadata, Access::Rules(raw.rules))
            }
            Kind::RoleBinding | Kind::ClusterRoleBinding => {
                let mut raw: rbac::RawBinding = typed(value, explain)?;
                let namespace = match raw.metadata.namespace.as_str() {
                    "" => "default".to_owned(),
                    ns => ns.to_owned(),
                };
                rbac::check_binding(kind, &namespace, &mut raw)?;
                let access = Access::Binding {
                    role_ref: raw.role_ref,
                    subjects: raw.subjects,
                };
                Self::holding(kind, raw.metadata, access)
            }
            Kind::ResourceQuota => {
                let (metadata, limits) = typed::<RawQuota>(value, explain)?.check()?;
                Self::limiting(kind, metadata, limits)
            }
            Kind::LimitRange => {
                let (metadata, limits) = typed::<RawLimitRange>(value, explain)?.check()?;
                Self::limiting(kind, metadata, limits)
            }
            _ => Self::config_map(typed(value, explain)?)?,
        };
        config.normalize()?;
        Ok(config)
    }

    /// A quota or limit range (see [`super::quota`]).
    fn limiting(kind: Kind, metadata: ObjectMeta, limits: Limits) -> Config {
        Config {
            limits: Some(limits),
            ..Self::bare(kind, metadata)
        }
    }

    /// An object of `kind` holding nothing but its metadata yet.
    fn bare(kind: Kind, metadata: ObjectMeta) -> Config {
        Config {
            kind,
            metadata,
            data: BTreeMap::new(),
            binary_keys: Vec::new(),
            immutable: false,
            secret_type: None,
            priority: None,
            network: None,
            access: None,
            limits: None,
        }
    }

    /// An access object (see [`super::rbac`]): its metadata and fields.
    fn holding(kind: Kind, metadata: ObjectMeta, access: Access) -> Config {
        Config {
            access: Some(access),
            ..Self::bare(kind, metadata)
        }
    }

    /// A Namespace; its Pod Security labels must name a level.
    fn namespace(raw: RawNamespace) -> Result<Config, FieldError> {
        crate::access::pod_security::validate(&raw.metadata.labels)
            .map_err(|(path, message)| FieldError::new(path, message))?;
        Ok(Self::bare(Kind::Namespace, raw.metadata))
    }

    fn network_policy(raw: RawNetworkPolicy) -> Result<Config, FieldError> {
        let mut spec = raw.spec;
        spec.normalize()?;
        Ok(Config {
            network: Some(spec),
            ..Self::bare(Kind::NetworkPolicy, raw.metadata)
        })
    }

    fn priority_class(raw: RawPriorityClass) -> Result<Config, FieldError> {
        let metadata = raw.metadata.clone();
        Ok(Config {
            priority: Some(raw.check()?),
            ..Self::bare(Kind::PriorityClass, metadata)
        })
    }

    fn config_map(raw: RawConfigMap) -> Result<Config, FieldError> {
        let mut data = BTreeMap::new();
        for (key, value) in raw.data {
            data.insert(key, value.into_bytes());
        }
        let mut binary_keys = Vec::new();
        for (key, value) in raw.binary_data {
            let at = format!("binaryData[{key}]");
            if data.contains_key(&key) {
                return Err(FieldError::new(
                    at,
                    "duplicates a key of data: a key is in data or binaryData, not both",
                ));
            }
            let bytes = decode(&value).map_err(|m| FieldError::new(&at, m))?;
            binary_keys.push(key.clone());
            data.insert(key, bytes);
        }
        Ok(Config {
            kind: Kind::ConfigMap,
            metadata: raw.metadata,
            data,
            binary_keys,
            immutable: raw.immutable.unwrap_or(false),
            secret_type: None,
            priority: None,
            network: None,
            access: None,
            limits: None,
        })
    }

    fn secret(raw: RawSecret) -> Result<Config, FieldError> {
        let mut data = BTreeMap::new();
        for (key, value) in raw.data {
            let bytes = decode(&value).map_err(|m| FieldError::new(format!("data[{key}]"), m))?;
            data.insert(key, bytes);
        }
        // As the API server: stringData is merged over data, and written.
        for (key, value) in raw.string_data {
            data.insert(key, value.into_bytes());
        }
        let secret_type = raw.secret_type.filter(|t| !t.is_empty());
        Ok(Config {
            kind: Kind::Secret,
            metadata: raw.metadata,
            data,
            binary_keys: Vec::new(),
            immutable: raw.immutable.unwrap_or(false),
            secret_type: Some(secret_type.unwrap_or_else(|| "Opaque".to_owned())),
            priority: None,
            network: None,
            access: None,
            limits: None,
        })
    }

    fn normalize(&mut self) -> Result<(), FieldError> {
        // ConfigMap, Secret and PriorityClass names are DNS subdomains; a
        // Namespace's a DNS label.
        let longest = if self.kind == Kind::Namespace {
            63
        } else {
            253
        };
        self.metadata.normalize("metadata", longest)?;
        if self.kind.cluster_scoped() {
            self.metadata.namespace = String::new();
        }
        let field = "data";
        let mut total = 0;
        for (key, value) in &self.data {
            check_key(key).map_err(|m| FieldError::new(format!("{field}[{key}]"), m))?;
            total += value.len();
        }
        if self.kind == Kind::ConfigMap {
            for (key, value) in &self.data {
                if !self.binary_keys.contains(key) && std::str::from_utf8(value).is_err() {
                    return Err(FieldError::new(
                        format!("data[{key}]"),
                        "is not UTF-8: put binary values in binaryData",
                    ));
                }
            }
        }
        if total > MAX_CONFIG_BYTES {
            return Err(FieldError::new(
                field,
                format!(
                    "holds {total} bytes, more than the limit of {MAX_CONFIG_BYTES} (1 MiB): \
                     split it into several objects"
                ),
            ));
        }
        Ok(())
    }

    /// The object's JSON as `get -o json` shows it and as it is stored
    /// (a Secret's values are sealed before they are written, see
    /// [`crate::secrets`]): `metadata`, then `data` (base64 for a Secret),
    /// `binaryData`, `type`, `immutable`.
    pub fn stored_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!({ "metadata": self.metadata });
        if let Some(limits) = &self.limits {
            value["spec"] = limits.spec();
            return value;
        }
        if let Some(access) = &self.access {
            for (key, field) in access.fields() {
                value[key] = field;
            }
            return value;
        }
        if let Some(spec) = &self.network {
            value["spec"] = serde_json::to_value(spec).expect("JSON");
            return value;
        }
        if let Some(priority) = &self.priority {
            let fields = serde_json::to_value(priority).expect("JSON");
            for (key, field) in fields.as_object().into_iter().flatten() {
                value[key] = field.clone();
            }
            return value;
        }
        let mut data = serde_json::Map::new();
        let mut binary = serde_json::Map::new();
        for (key, bytes) in &self.data {
            if self.kind == Kind::Secret || self.binary_keys.contains(key) {
                let target = if self.kind == Kind::Secret {
                    &mut data
                } else {
                    &mut binary
                };
                target.insert(key.clone(), encode(bytes).into());
            } else {
                let text = String::from_utf8_lossy(bytes).into_owned();
                data.insert(key.clone(), text.into());
            }
        }
        if !data.is_empty() {
            value["data"] = data.into();
        }
        if !binary.is_empty() {
            value["binaryData"] = binary.into();
        }
        if let Some(kind) = &self.secret_type {
            value["type"] = kind.clone().into();
        }
        if self.immutable {
            value["immutable"] = true.into();
        }
        value
    }

    /// Reads the object back from [`Config::stored_json`] (unsealed).
    pub fn from_stored(kind: Kind, stored: &serde_json::Value) -> Result<Config, String> {
        let metadata: ObjectMeta = serde_json::from_value(stored["metadata"].clone())
            .map_err(|e| format!("stored metadata cannot be read: {e}"))?;
        let mut data = BTreeMap::new();
        let mut binary_keys = Vec::new();
        let entries = |field: &str| {
            stored[field]
                .as_object()
                .cloned()
                .unwrap_or_default()
                .into_iter()
        };
        for (key, value) in entries("data") {
            let text = value.as_str().unwrap_or_default();
            let bytes = match kind {
                Kind::Secret => decode(text)?,
                _ => text.as_bytes().to_vec(),
            };
            data.insert(key, bytes);
        }
        for (key, value) in entries("binaryData") {
            data.insert(key.clone(), decode(value.as_str().unwrap_or_default())?);
            binary_keys.push(key);
        }
        Ok(Config {
            kind,
            metadata,
            data,
            binary_keys,
            immutable: stored["immutable"].as_bool().unwrap_or(false),
            secret_type: stored["type"].as_str().map(str::to_owned),
            priority: match kind {
                Kind::PriorityClass => Some(
                    serde_json::from_value(stored.clone())
                        .map_err(|e| format!("stored PriorityClass cannot be read: {e}"))?,
                ),
                _ => None,
            },
            network: match kind {
                Kind::NetworkPolicy => Some(
                    serde_json::from_value(stored["spec"].clone())
                        .map_err(|e| format!("stored NetworkPolicy cannot be read: {e}"))?,
                ),
                _ => None,
            },
            access: match kind {
                Kind::ServiceAccount
                | Kind::Role
                | Kind::ClusterRole
                | Kind::RoleBinding
                | Kind::ClusterRoleBinding => Some(Access::from_stored(kind, stored)?),
                _ => None,
            },
            limits: match kind {
                Kind::ResourceQuota | Kind::LimitRange => Some(Limits::from_stored(
                    kind == Kind::ResourceQuota,
                    &stored["spec"],
                )?),
                _ => None,
            },
        })
    }
}

/// A key of a ConfigMap or Secret: what a file name in a volume may be.
fn check_key(key: &str) -> Result<(), String> {
    let valid = !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid key {key:?}: a valid config key must consist of alphanumeric characters, \
             '-', '_' or '.' (at most 253, not . or ..)"
        ))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::manifest::{Object, load_str};
    use std::path::Path;

    /// The one object of a value-holding kind `text` holds, or the message.
    pub(in crate::manifest) fn load(text: &str) -> Result<Config, String> {
        let mut docs = load_str(text, "c.yaml", Path::new("/")).map_err(|e| e.to_string())?;
        match docs.remove(0).object {
            Object::Config(config) => Ok(config),
            other => panic!("not a config: {other:?}"),
        }
    }

    #[test]
    fn a_config_map_keeps_data_as_text_and_binary_data_as_bytes() {
        let c = load(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app.settings}\n\
             data: {mode: fast, app.properties: \"a=1\\nb=2\\n\"}\nbinaryData: {blob: AAEC}\n",
        )
        .unwrap();
        assert_eq!(c.kind, Kind::ConfigMap);
        assert_eq!(c.metadata.namespace, "default");
        assert_eq!(c.data["mode"], b"fast");
        assert_eq!(c.data["blob"], vec![0, 1, 2]);
        let stored = c.stored_json();
        assert_eq!(stored["data"]["app.properties"], "a=1\nb=2\n");
        assert_eq!(stored["binaryData"]["blob"], "AAEC");
        assert_eq!(Config::from_stored(Kind::ConfigMap, &stored).unwrap(), c);
    }

    #[test]
    fn a_secret_merges_string_data_over_data_and_defaults_its_type() {
        let c = load(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n\
             data: {user: YWRtaW4=, password: b2xk}\nstringData: {password: s3cr3t}\n",
        )
        .unwrap();
        assert_eq!(c.data["user"], b"admin");
        assert_eq!(c.data["password"], b"s3cr3t");
        assert_eq!(c.secret_type.as_deref(), Some("Opaque"));
        let stored = c.stored_json();
        assert_eq!(stored["data"]["password"], "czNjcjN0");
        assert!(stored.get("stringData").is_none());
        assert_eq!(Config::from_stored(Kind::Secret, &stored).unwrap(), c);
    }

    #[test]
    fn bad_keys_bad_base64_and_duplicates_name_their_field() {
        let err =
            load("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: \"not base64!\"}\n")
                .unwrap_err();
        assert!(err.contains("data[k]: is not valid base64"), "{err}");
        let err =
            load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {\"a/b\": x}\n")
                .unwrap_err();
        assert!(err.contains("data[a/b]: invalid key"), "{err}");
        let err = load(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: x}\nbinaryData: {k: AA==}\n",
        )
        .unwrap_err();
        assert!(err.contains("binaryData[k]: duplicates"), "{err}");
        let err = load("apiVersion: v2\nkind: ConfigMap\nmetadata: {name: c}\n").unwrap_err();
        assert!(err.contains("apiVersion: ConfigMap is v1"), "{err}");
        let err =
            load("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nspec: {}\n").unwrap_err();
        assert!(err.contains("spec: unknown field"), "{err}");
    }

    #[test]
    fn a_config_over_one_mebibyte_is_refused() {
        let big = "x".repeat(MAX_CONFIG_BYTES + 1);
        let text =
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{k: {big}}}\n");
        let err = load(&text).unwrap_err();
        assert!(err.contains("more than the limit"), "{err}");
    }
}
