//! A container's `resources`: memory (the instance's cap), CPU (validated,
//! not enforced) and extended resources (counted against what a node
//! advertises, see `runner::budget`), and their rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::validate::{self, Check};
use super::{Container, FieldError, parse_memory_quantity};

/// `resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// `limits.memory` caps the instance's linear memory.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub limits: ResourceList,
    /// Accepted for compatibility; wasmjob does not reserve resources.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub requests: ResourceList,
}

impl Resources {
    /// Whether nothing is set.
    pub(super) fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.requests.is_empty()
    }
}

/// Memory and CPU quantities, and extended resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceList {
    /// A Kubernetes quantity such as `64Mi` (a bare number is bytes).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::quantity::quantity_text"
    )]
    pub memory: Option<String>,
    /// Accepted and validated, not enforced: a Wasm instance is preempted every
    /// 10 ms instead, so one guest cannot starve the others. `1`, `0.5` and
    /// `500m` alike.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::quantity::quantity_text"
    )]
    pub cpu: Option<String>,
    /// Extended resources (`nvidia.com/gpu: 1`): whole numbers of what a
    /// node advertises (`serve --resources`); an instance starts only on a
    /// node with that many free. `ephemeral-storage` is accepted and
    /// validated, not enforced.
    #[serde(flatten)]
    pub extended: BTreeMap<String, serde_json::Value>,
}

impl ResourceList {
    fn is_empty(&self) -> bool {
        self.memory.is_none() && self.cpu.is_none() && self.extended.is_empty()
    }

    /// The whole number of extended resource `name` asked for.
    pub fn extended_count(&self, name: &str) -> Option<i64> {
        extended_count(self.extended.get(name)?).ok()
    }
}

/// Whether a node advertising `have` could run an instance asking for
/// `demand` of its extended resources (however much is in use).
pub fn has_resources(demand: &BTreeMap<String, i64>, have: &BTreeMap<String, i64>) -> bool {
    demand
        .iter()
        .all(|(name, count)| have.get(name).copied().unwrap_or(0) >= *count)
}

/// An extended resource's amount: a whole number, as a number or text.
fn extended_count(value: &serde_json::Value) -> Result<i64, String> {
    let parsed = match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match parsed {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(format!(
            "must be a whole number of the resource, got {value}: extended resources are counted"
        )),
    }
}

impl Container {
    /// What one instance of this container takes of each extended
    /// resource: its limit, or else its request.
    pub fn extended_resources(&self) -> BTreeMap<String, i64> {
        let mut asked = BTreeMap::new();
        let resources = &self.resources;
        let names = resources
            .limits
            .extended
            .keys()
            .chain(resources.requests.extended.keys());
        for name in names {
            if name == "ephemeral-storage" {
                continue;
            }
            let count = (resources.limits.extended_count(name))
                .or_else(|| resources.requests.extended_count(name))
                .unwrap_or(0);
            asked.insert(name.clone(), count);
        }
        asked
    }
}

/// An extended resource of `resources`: a domain-qualified name and a whole
/// number (or `ephemeral-storage` and a quantity).
fn validate_extended(name: &str, value: &serde_json::Value) -> Result<(), String> {
    if name == "ephemeral-storage" {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return parse_memory_quantity(&text).map(drop);
    }
    if name.starts_with("hugepages-") {
        return Err("a Wasm instance has no huge pages: remove it".into());
    }
    let qualified = validate::qualified_name(name).is_ok();
    let domain = name.split_once('/').map(|(d, _)| d);
    if !qualified || domain.is_none() || domain.is_some_and(|d| d.ends_with("kubernetes.io")) {
        return Err(format!(
            "unknown resource {name:?}: use memory, cpu, ephemeral-storage, or an extended \
             resource with its own domain such as nvidia.com/gpu"
        ));
    }
    extended_count(value).map(drop)
}

fn validate_cpu(text: &str) -> Result<(), String> {
    let number = text.strip_suffix('m').unwrap_or(text);
    match number.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(()),
        _ => Err(format!(
            "invalid CPU quantity {text:?}: expected cores such as 0.5 or 500m"
        )),
    }
}

impl Resources {
    /// Checks the quantities at `path` (`…containers[i].resources`).
    pub(super) fn validate(&self, path: &str) -> Result<(), FieldError> {
        for (list, name) in [(&self.limits, "limits"), (&self.requests, "requests")] {
            if let Some(memory) = &list.memory {
                parse_memory_quantity(memory).at(&format!("{path}.{name}.memory"))?;
            }
            if let Some(cpu) = &list.cpu {
                validate_cpu(cpu).at(&format!("{path}.{name}.cpu"))?;
            }
            for (resource, value) in &list.extended {
                let at = format!("{path}.{name}[{resource}]");
                validate_extended(resource, value).map_err(|m| FieldError::new(&at, m))?;
            }
        }
        let (limits, requests) = (&self.limits, &self.requests);
        for (resource, request) in &requests.extended {
            let limit = limits.extended.get(resource);
            if resource != "ephemeral-storage" && limit.is_some_and(|l| l != request) {
                return Err(FieldError::new(
                    format!("{path}.requests[{resource}]"),
                    "must be equal to the limit: an extended resource cannot be overcommitted",
                ));
            }
        }
        Ok(())
    }
}
