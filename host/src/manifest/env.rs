//! Where a container's variables come from besides their `value`: keys of
//! ConfigMaps and Secrets (`valueFrom`, `envFrom`) and the instance's own
//! fields and limits (`fieldRef`, `resourceFieldRef`), and their rules.
//! The executor resolves them at each attempt (`executor::references`).

use serde::{Deserialize, Serialize};

use super::FieldError;
use super::validate::{Check, required};

/// One environment variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVar {
    /// Any name without `=`.
    pub name: String,
    /// The value; empty when absent.
    #[serde(default)]
    pub value: String,
    /// Where the value comes from instead: a ConfigMap's or Secret's key,
    /// the instance's own fields, or its limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// `env[].valueFrom`: exactly one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVarSource {
    /// A key of a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeySelector>,
    /// A key of a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeySelector>,
    /// A field of the instance (`metadata.name`, `spec.nodeName`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldSelector>,
    /// A limit or request of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldSelector>,
}

/// One key of a named ConfigMap or Secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeySelector {
    /// The object's name, in the instance's namespace.
    #[serde(default)]
    pub name: String,
    /// The key.
    pub key: String,
    /// A missing object or key leaves the variable out instead of keeping
    /// the instance waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// `fieldRef`: a field of the instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldSelector {
    /// `metadata.name`, `metadata.namespace`, `metadata.uid`,
    /// `metadata.labels['KEY']`, `metadata.annotations['KEY']`,
    /// `spec.nodeName`, `spec.serviceAccountName`, `status.hostIP`,
    /// `status.podIP` (and, in volumes, `metadata.labels` and
    /// `metadata.annotations` whole).
    pub field_path: String,
    /// Accepted: `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
}

/// `resourceFieldRef`: a limit or request of a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceFieldSelector {
    /// `limits.memory`, `limits.cpu`, `requests.memory`, `requests.cpu`.
    pub resource: String,
    /// Needed in volumes; in `env` the container itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// The unit of the value (`1Mi`, `1m`); 1 by default.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::quantity::quantity_text"
    )]
    pub divisor: Option<String>,
}

/// `envFrom[]`: every key of one ConfigMap or Secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvFromSource {
    /// Put before every key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<NameSelector>,
    /// The Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<NameSelector>,
}

/// A named ConfigMap or Secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameSelector {
    /// The object's name, in the instance's namespace.
    #[serde(default)]
    pub name: String,
    /// A missing object is skipped instead of keeping the instance waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

impl EnvVarSource {
    /// Checks the source at `path`; `has_value`: the variable also has a
    /// `value`.
    pub(super) fn validate(&self, path: &str, has_value: bool) -> Result<(), FieldError> {
        if has_value {
            return Err(FieldError::new(
                path,
                "may not be given with value: a variable has a value or a valueFrom",
            ));
        }
        let count = [
            self.config_map_key_ref.is_some(),
            self.secret_key_ref.is_some(),
            self.field_ref.is_some(),
            self.resource_field_ref.is_some(),
        ]
        .into_iter()
        .filter(|set| *set)
        .count();
        if count != 1 {
            return Err(FieldError::new(
                path,
                "needs exactly one of configMapKeyRef, secretKeyRef, fieldRef or resourceFieldRef",
            ));
        }
        for (selector, field) in [
            (&self.config_map_key_ref, "configMapKeyRef"),
            (&self.secret_key_ref, "secretKeyRef"),
        ] {
            if let Some(selector) = selector {
                required(&selector.name, &format!("{path}.{field}.name"))?;
                if selector.key.is_empty() {
                    return Err(FieldError::new(
                        format!("{path}.{field}.key"),
                        "is required",
                    ));
                }
            }
        }
        if let Some(field) = &self.field_ref {
            super::downward::check_field(&field.field_path, false)
                .at(&format!("{path}.fieldRef.fieldPath"))?;
        }
        if let Some(resource) = &self.resource_field_ref {
            resource.validate(&format!("{path}.resourceFieldRef"))?;
        }
        Ok(())
    }
}

impl ResourceFieldSelector {
    /// Checks the selector at `path`.
    pub(super) fn validate(&self, path: &str) -> Result<(), FieldError> {
        super::downward::check_resource(&self.resource).at(&format!("{path}.resource"))?;
        if let Some(divisor) = &self.divisor {
            super::downward::divisor(&self.resource, divisor)
                .map(drop)
                .at(&format!("{path}.divisor"))?;
        }
        Ok(())
    }
}
