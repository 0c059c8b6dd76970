//! How much a namespace may hold, as objects: `v1` ResourceQuotas (the
//! most objects of each kind a namespace may hold) and LimitRanges (the
//! memory a container gets when it names none, and the most and least it
//! may name). They run nothing and are stored as the other value-holding
//! objects are ([`super::Config`]); the runner applies them to every apply
//! (see `runner::commands::quota`), [`crate::access::quota`] words the
//! refusals.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{FieldError, ObjectMeta, PodSpec, memory_quantity, parse_memory_quantity};

/// What a quota or a limit range holds besides its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limits {
    /// A ResourceQuota's `spec.hard`: each resource name and its limit.
    Quota(BTreeMap<String, String>),
    /// A LimitRange's `spec.limits`.
    Range(Vec<LimitRangeItem>),
}

impl Limits {
    /// The object's `spec`, as stored and shown.
    pub fn spec(&self) -> serde_json::Value {
        match self {
            Limits::Quota(hard) => serde_json::json!({ "hard": hard }),
            Limits::Range(items) => serde_json::json!({ "limits": items }),
        }
    }

    /// Reads the `spec` back from a stored object (`quota`: a
    /// ResourceQuota's, else a LimitRange's).
    pub fn from_stored(quota: bool, spec: &serde_json::Value) -> Result<Limits, String> {
        let bad = |e: serde_json::Error| format!("a stored quota or limit range: {e}");
        Ok(match quota {
            true => Limits::Quota(serde_json::from_value(spec["hard"].clone()).map_err(bad)?),
            false => Limits::Range(serde_json::from_value(spec["limits"].clone()).map_err(bad)?),
        })
    }
}

/// One entry of a LimitRange, memory being what wasmjob meters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitRangeItem {
    /// `Container` or `Pod` (an instance: its containers together).
    #[serde(rename = "type")]
    pub kind: String,
    /// A container's limit when it names none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub default: BTreeMap<String, String>,
    /// A container's request when it names none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub default_request: BTreeMap<String, String>,
    /// The most a container (or an instance) may name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub max: BTreeMap<String, String>,
    /// The least a container (or an instance) may name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub min: BTreeMap<String, String>,
    /// Accepted, not applied.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub max_limit_request_ratio: BTreeMap<String, String>,
}

/// A ResourceQuota as written; `scopes` and `scopeSelector` are refused
/// (every object of the namespace counts).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RawQuota {
    #[serde(rename = "apiVersion")]
    _api_version: serde::de::IgnoredAny,
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    #[serde(default)]
    pub(super) metadata: ObjectMeta,
    #[serde(default)]
    spec: RawQuotaSpec,
    #[serde(default, rename = "status")]
    _status: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawQuotaSpec {
    #[serde(default)]
    hard: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    scopes: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    scope_selector: Option<serde::de::IgnoredAny>,
}

/// A LimitRange as written.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RawLimitRange {
    #[serde(rename = "apiVersion")]
    _api_version: serde::de::IgnoredAny,
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    #[serde(default)]
    pub(super) metadata: ObjectMeta,
    #[serde(default)]
    spec: RawLimitRangeSpec,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimitRangeSpec {
    #[serde(default)]
    limits: Vec<RawLimitRangeItem>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawLimitRangeItem {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    default: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    default_request: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    max: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    min: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    max_limit_request_ratio: BTreeMap<String, serde_json::Value>,
}

/// A quantity as YAML gives it (`10`, `"1Gi"`), as text.
fn quantity(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The quantities of a map, each checked: memory as a memory quantity,
/// a `count/` or object count as a whole number.
fn quantities(
    at: &str,
    given: BTreeMap<String, serde_json::Value>,
) -> Result<BTreeMap<String, String>, FieldError> {
    let mut out = BTreeMap::new();
    for (name, value) in given {
        let field = format!("{at}[{name}]");
        let text = quantity(&value)
            .ok_or_else(|| FieldError::new(&field, "must be a quantity such as 10 or 1Gi"))?;
        if name.ends_with("memory") || name == crate::access::quota::LOG_BYTES {
            parse_memory_quantity(&text).map_err(|e| FieldError::new(&field, e))?;
        } else if is_count(&name) && text.parse::<u64>().is_err() {
            return Err(FieldError::new(
                &field,
                format!("must be a whole number of objects, got {text:?}"),
            ));
        }
        out.insert(name, text);
    }
    Ok(out)
}

/// Whether `name` counts objects (`count/jobs.batch`, `configmaps`, `pods`).
pub fn is_count(name: &str) -> bool {
    name.starts_with("count/")
        || matches!(
            name,
            "pods" | "configmaps" | "secrets" | "services" | "persistentvolumeclaims"
        )
}

impl RawQuota {
    /// Kubernetes' checks of `spec.hard`.
    pub(super) fn check(self) -> Result<(ObjectMeta, Limits), FieldError> {
        if self.spec.scopes.is_some() || self.spec.scope_selector.is_some() {
            return Err(FieldError::new(
                "spec.scopes",
                "quota scopes are not supported: every object of the namespace counts",
            ));
        }
        let hard = quantities("spec.hard", self.spec.hard)?;
        Ok((self.metadata, Limits::Quota(hard)))
    }
}

impl RawLimitRange {
    /// Kubernetes' checks of `spec.limits`: a known type, quantities, and
    /// for memory `min <= default <= max`.
    pub(super) fn check(self) -> Result<(ObjectMeta, Limits), FieldError> {
        let mut items = Vec::new();
        for (i, raw) in self.spec.limits.into_iter().enumerate() {
            let at = |field: &str| format!("spec.limits[{i}].{field}");
            if !matches!(
                raw.kind.as_str(),
                "Container" | "Pod" | "PersistentVolumeClaim"
            ) {
                return Err(FieldError::new(
                    at("type"),
                    format!(
                        "Unsupported value: {:?}: supported values: \"Container\", \"Pod\", \
                         \"PersistentVolumeClaim\"",
                        raw.kind
                    ),
                ));
            }
            let item = LimitRangeItem {
                kind: raw.kind,
                default: quantities(&at("default"), raw.default)?,
                default_request: quantities(&at("defaultRequest"), raw.default_request)?,
                max: quantities(&at("max"), raw.max)?,
                min: quantities(&at("min"), raw.min)?,
                max_limit_request_ratio: quantities(
                    &at("maxLimitRequestRatio"),
                    raw.max_limit_request_ratio,
                )?,
            };
            let bytes = |map: &BTreeMap<String, String>| {
                map.get("memory")
                    .and_then(|m| parse_memory_quantity(m).ok())
            };
            let (min, default, max) = (bytes(&item.min), bytes(&item.default), bytes(&item.max));
            if let (Some(min), Some(max)) = (min, max)
                && min > max
            {
                return Err(FieldError::new(
                    at("min[memory]"),
                    "min value must be less than or equal to max value",
                ));
            }
            if let (Some(default), Some(max)) = (default, max)
                && default > max
            {
                return Err(FieldError::new(
                    at("default[memory]"),
                    "default value must be less than or equal to max value",
                ));
            }
            items.push(item);
        }
        Ok((self.metadata, Limits::Range(items)))
    }
}

/// Kubernetes' LimitRanger on one pod template, for memory: a container
/// naming no limit gets the `Container` item's `default` (or its `max`),
/// none naming no request gets `defaultRequest` (or its limit); then each
/// container's limit must be within `min` and `max`, and the instance's
/// (its containers' limits summed) within a `Pod` item's. The refusal is
/// Kubernetes' sentence.
pub fn limit(pod: &mut PodSpec, ranges: &[LimitRangeItem]) -> Result<(), String> {
    let memory = |map: &BTreeMap<String, String>| map.get("memory").cloned();
    let bytes = |text: &Option<String>| text.as_deref().and_then(|t| parse_memory_quantity(t).ok());
    for item in ranges.iter().filter(|i| i.kind == "Container") {
        for container in pod.all_containers_mut() {
            let resources = &mut container.resources;
            if resources.limits.memory.is_none() {
                resources.limits.memory = memory(&item.default).or_else(|| memory(&item.max));
            }
            if resources.requests.memory.is_none() {
                resources.requests.memory =
                    memory(&item.default_request).or_else(|| resources.limits.memory.clone());
            }
            let limit = bytes(&resources.limits.memory);
            let request = bytes(&resources.requests.memory);
            if let (Some(max), Some(limit)) = (bytes(&memory(&item.max)), limit)
                && limit > max
            {
                return Err(format!(
                    "maximum memory usage per Container is {}, but limit is {}",
                    memory_quantity(max),
                    memory_quantity(limit)
                ));
            }
            if let Some(min) = bytes(&memory(&item.min))
                && let Some(asked) = request.or(limit)
                && asked < min
            {
                return Err(format!(
                    "minimum memory usage per Container is {}, but request is {}",
                    memory_quantity(min),
                    memory_quantity(asked)
                ));
            }
        }
    }
    for item in ranges.iter().filter(|i| i.kind == "Pod") {
        let Some(max) = bytes(&memory(&item.max)) else {
            continue;
        };
        let mut total = 0;
        for container in pod.all_containers() {
            match bytes(&container.resources.limits.memory) {
                Some(limit) => total += limit,
                None => {
                    return Err(format!(
                        "maximum memory usage per Pod is {}: container {} names no memory \
                         limit (set resources.limits.memory, or a Container default)",
                        memory_quantity(max),
                        container.name
                    ));
                }
            }
        }
        if total > max {
            return Err(format!(
                "maximum memory usage per Pod is {}, but limit is {}",
                memory_quantity(max),
                memory_quantity(total)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Config;
    use crate::manifest::config::tests::load;

    fn range(text: &str) -> Vec<LimitRangeItem> {
        let c = load(&format!(
            "apiVersion: v1\nkind: LimitRange\nmetadata: {{name: l}}\nspec:\n  limits:\n{text}"
        ))
        .unwrap();
        match c.limits {
            Some(Limits::Range(items)) => items,
            other => panic!("{other:?}"),
        }
    }

    fn pod(limits: &[Option<&str>]) -> PodSpec {
        let containers: Vec<serde_json::Value> = limits
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut c = serde_json::json!({"name": format!("c{i}"), "image": "x"});
                if let Some(l) = l {
                    c["resources"] = serde_json::json!({"limits": {"memory": l}});
                }
                c
            })
            .collect();
        serde_json::from_value(serde_json::json!({ "containers": containers })).unwrap()
    }

    #[test]
    fn a_quota_keeps_its_hard_limits_and_refuses_what_is_not_a_count() {
        let c = load(
            "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q, namespace: t}\n\
             spec: {hard: {count/jobs.batch: 10, limits.memory: 1Gi}}\n",
        )
        .unwrap();
        let Some(Limits::Quota(hard)) = &c.limits else {
            panic!("{c:?}")
        };
        assert_eq!(hard["count/jobs.batch"], "10");
        let stored = c.stored_json();
        assert_eq!(stored["spec"]["hard"]["limits.memory"], "1Gi");
        assert_eq!(
            Config::from_stored(crate::manifest::Kind::ResourceQuota, &stored).unwrap(),
            c
        );
        let bad = load(
            "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\n\
             spec: {hard: {count/jobs.batch: 1.5}}\n",
        )
        .unwrap_err();
        assert!(
            bad.contains("spec.hard[count/jobs.batch]: must be a whole number"),
            "{bad}"
        );
        let scoped = load(
            "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\n\
             spec: {hard: {pods: 1}, scopes: [BestEffort]}\n",
        )
        .unwrap_err();
        assert!(scoped.contains("spec.scopes"), "{scoped}");
    }

    #[test]
    fn a_container_without_a_limit_gets_the_default_and_max_and_min_are_kept() {
        let items = range(
            "  - type: Container\n    default: {memory: 64Mi}\n    max: {memory: 128Mi}\n    min: {memory: 8Mi}\n",
        );
        let mut p = pod(&[None, Some("100Mi")]);
        limit(&mut p, &items).unwrap();
        assert_eq!(
            p.containers[0].resources.limits.memory.as_deref(),
            Some("64Mi")
        );
        assert_eq!(
            p.containers[0].resources.requests.memory.as_deref(),
            Some("64Mi")
        );
        assert_eq!(
            p.containers[1].resources.limits.memory.as_deref(),
            Some("100Mi")
        );
        let mut big = pod(&[Some("256Mi")]);
        assert_eq!(
            limit(&mut big, &items).unwrap_err(),
            "maximum memory usage per Container is 128Mi, but limit is 256Mi"
        );
        let mut small = pod(&[Some("4Mi")]);
        assert_eq!(
            limit(&mut small, &items).unwrap_err(),
            "minimum memory usage per Container is 8Mi, but request is 4Mi"
        );
        // No default: the max is the default, as in Kubernetes.
        let only_max = range("  - type: Container\n    max: {memory: 32Mi}\n");
        let mut p = pod(&[None]);
        limit(&mut p, &only_max).unwrap();
        assert_eq!(
            p.containers[0].resources.limits.memory.as_deref(),
            Some("32Mi")
        );
    }

    #[test]
    fn an_instance_is_held_to_the_pod_item_summed() {
        let items = range("  - type: Pod\n    max: {memory: 100Mi}\n");
        let mut fits = pod(&[Some("50Mi"), Some("50Mi")]);
        limit(&mut fits, &items).unwrap();
        let mut over = pod(&[Some("50Mi"), Some("60Mi")]);
        assert_eq!(
            limit(&mut over, &items).unwrap_err(),
            "maximum memory usage per Pod is 100Mi, but limit is 110Mi"
        );
        let mut unnamed = pod(&[None]);
        assert!(
            limit(&mut unnamed, &items)
                .unwrap_err()
                .contains("names no memory limit")
        );
        let bad = load(
            "apiVersion: v1\nkind: LimitRange\nmetadata: {name: l}\n\
             spec: {limits: [{type: Container, default: {memory: 2Gi}, max: {memory: 1Gi}}]}\n",
        )
        .unwrap_err();
        assert!(bad.contains("spec.limits[0].default[memory]"), "{bad}");
    }
}
