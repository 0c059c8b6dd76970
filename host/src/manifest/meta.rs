//! `metadata`: names, namespaces, labels and annotations, and their rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::FieldError;
use super::validate::{self, Check};

/// The namespace an object without one lands in.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Kubernetes `ObjectMeta`, as much of it as wasmjob uses.
///
/// The server-set fields (`uid`, `creationTimestamp`, `ownerReferences`, …) are
/// accepted so that `get -o yaml` output can be applied again; they are
/// ignored on input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    /// The object's name, unique per kind and namespace.
    #[serde(default)]
    pub name: String,
    /// Without a `name`: the name's prefix, completed with five random
    /// characters when the manifest is read, as the API server does for
    /// `kubectl create` (`apply` refuses it, as kubectl does). Not stored.
    #[serde(default, skip_serializing)]
    pub generate_name: Option<String>,
    /// The name was made from `generateName` (see [`ObjectMeta::normalize`]).
    #[serde(skip)]
    pub name_generated: bool,
    /// Defaults to `default`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Labels, selectable with `-l`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations: free-form strings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Server-set; ignored on input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Server-set; ignored on input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    /// Server-set; ignored on input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// Server-set; ignored on input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Server-set (a CronJob's Jobs point at it); ignored on input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
}

/// A pointer from an object to the object that created it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OwnerReference {
    /// The owner's API version.
    pub api_version: String,
    /// The owner's kind.
    pub kind: String,
    /// The owner's name.
    pub name: String,
    /// The owner's uid.
    pub uid: String,
    /// Whether the owner controls this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
}

impl ObjectMeta {
    /// Fills the defaults and checks names, labels and annotations.
    /// `max_name` is the kind's name length limit (Jobs 63, CronJobs 52).
    pub fn normalize(&mut self, path: &str, max_name: usize) -> Result<(), FieldError> {
        if let Some(prefix) = self.generate_name.take().filter(|_| self.name.is_empty()) {
            if prefix.is_empty() {
                return Err(FieldError::new(
                    format!("{path}.generateName"),
                    "is empty: give a prefix such as pi-, or a name",
                ));
            }
            // As the API server does: the prefix cut so that the name with
            // its five characters fits the kind's limit.
            let keep = prefix
                .char_indices()
                .nth(max_name - 5)
                .map_or(prefix.len(), |(at, _)| at);
            self.name = format!("{}{}", &prefix[..keep], crate::ids::name_suffix());
            self.name_generated = true;
            validate::object_name(&self.name, max_name).at(&format!("{path}.generateName"))?;
        }
        if self.name.is_empty() {
            return Err(FieldError::new(
                format!("{path}.name"),
                "is required: every object needs a name (or metadata.generateName, with create)",
            ));
        }
        validate::object_name(&self.name, max_name).at(&format!("{path}.name"))?;
        if self.namespace.is_empty() {
            self.namespace = DEFAULT_NAMESPACE.to_owned();
        }
        validate::dns_label(&self.namespace).at(&format!("{path}.namespace"))?;
        validate::labels(&self.labels, &format!("{path}.labels"))?;
        for key in self.annotations.keys() {
            validate::qualified_name(key).at(&format!("{path}.annotations[{key}]"))?;
        }
        // Output-only fields never carry meaning into the store.
        self.uid = None;
        self.creation_timestamp = None;
        self.resource_version = None;
        self.generation = None;
        self.owner_references.clear();
        Ok(())
    }
}
