//! The downward API: which of an instance's own fields and limits a
//! template may read (`fieldRef`, `resourceFieldRef`, in `env` and in
//! `downwardAPI` volumes), and the text each gives, as the kubelet writes
//! it. Pure: the executor supplies the instance's facts.

use std::collections::BTreeMap;

use super::{Container, parse_memory_quantity};

/// What an instance is, for its `fieldRef`s.
#[derive(Debug, Clone, Copy)]
pub struct PodFacts<'a> {
    /// The instance's name.
    pub name: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// Its uid.
    pub uid: &'a str,
    /// Its labels.
    pub labels: &'a BTreeMap<String, String>,
    /// Its template's annotations.
    pub annotations: &'a BTreeMap<String, String>,
    /// The node it runs on.
    pub node_name: &'a str,
}

/// The fields `env[].valueFrom.fieldRef` may name (and, `in_volume`,
/// a `downwardAPI` file, which may also take every label or annotation).
pub fn check_field(path: &str, in_volume: bool) -> Result<(), String> {
    let whole_map = matches!(path, "metadata.labels" | "metadata.annotations");
    let known = matches!(
        path,
        "metadata.name"
            | "metadata.namespace"
            | "metadata.uid"
            | "spec.nodeName"
            | "spec.serviceAccountName"
            | "status.hostIP"
            | "status.podIP"
            | "status.hostIPs"
            | "status.podIPs"
    ) || subscript(path).is_some()
        || (in_volume && whole_map);
    if known {
        return Ok(());
    }
    let more = if whole_map {
        ": in env, name one key, as metadata.labels['app']"
    } else {
        ""
    };
    Err(format!(
        "unsupported field {path:?}{more}: supported are metadata.name, metadata.namespace, \
         metadata.uid, metadata.labels['KEY'], metadata.annotations['KEY'], spec.nodeName, \
         spec.serviceAccountName, status.hostIP and status.podIP"
    ))
}

/// `metadata.labels['KEY']` → (labels?, KEY).
fn subscript(path: &str) -> Option<(bool, &str)> {
    let (labels, rest) = if let Some(rest) = path.strip_prefix("metadata.labels[") {
        (true, rest)
    } else {
        (false, path.strip_prefix("metadata.annotations[")?)
    };
    let inner = rest.strip_suffix(']')?;
    let key = inner
        .strip_prefix('\'')
        .and_then(|k| k.strip_suffix('\''))
        .or_else(|| inner.strip_prefix('"').and_then(|k| k.strip_suffix('"')))?;
    (!key.is_empty()).then_some((labels, key))
}

/// The text of a field of the instance. A sandbox has no network address
/// of its own: `status.podIP` and `status.hostIP` are the loopback address.
pub fn field_value(path: &str, pod: &PodFacts<'_>) -> String {
    match path {
        "metadata.name" => pod.name.to_owned(),
        "metadata.namespace" => pod.namespace.to_owned(),
        "metadata.uid" => pod.uid.to_owned(),
        "spec.nodeName" => pod.node_name.to_owned(),
        "spec.serviceAccountName" => "default".to_owned(),
        "status.hostIP" | "status.podIP" | "status.hostIPs" | "status.podIPs" => {
            "127.0.0.1".to_owned()
        }
        "metadata.labels" => map_text(pod.labels),
        "metadata.annotations" => map_text(pod.annotations),
        _ => match subscript(path) {
            Some((true, key)) => pod.labels.get(key).cloned().unwrap_or_default(),
            Some((false, key)) => pod.annotations.get(key).cloned().unwrap_or_default(),
            None => String::new(),
        },
    }
}

/// A whole label or annotation map as the kubelet writes it to a file:
/// `key="value"` lines, sorted, values quoted.
fn map_text(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={}\n", serde_json::Value::from(v.as_str())))
        .collect()
}

/// The resources a `resourceFieldRef` may name.
pub fn check_resource(resource: &str) -> Result<(), String> {
    match resource {
        "limits.cpu" | "limits.memory" | "requests.cpu" | "requests.memory" => Ok(()),
        other => Err(format!(
            "unsupported resource {other:?}: supported are limits.cpu, limits.memory, \
             requests.cpu and requests.memory"
        )),
    }
}

/// A `divisor` for `resource`, in cores or bytes.
pub fn divisor(resource: &str, text: &str) -> Result<f64, String> {
    let value = if resource.ends_with(".cpu") {
        cores(text)
    } else {
        parse_memory_quantity(text).ok().map(|b| b as f64)
    };
    match value {
        Some(v) if v > 0.0 => Ok(v),
        _ => Err(format!(
            "invalid divisor {text:?}: a positive quantity such as 1, 1m or 1Mi"
        )),
    }
}

/// CPU cores of a quantity (`0.5`, `500m`, `2`).
fn cores(text: &str) -> Option<f64> {
    match text.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().ok().map(|m| m / 1000.0),
        None => text.parse::<f64>().ok(),
    }
    .filter(|v| v.is_finite() && *v >= 0.0)
}

/// The text of a container's limit or request as the kubelet gives it:
/// the quantity divided by `divisor` (1 when absent), rounded up. A limit
/// the container does not set is what the node gives it instead: the
/// instance memory cap `default_memory`, or the node's `node_cores`; a
/// request not set is its limit's.
pub fn resource_value(
    container: &Container,
    resource: &str,
    divisor_text: Option<&str>,
    default_memory: u64,
    node_cores: usize,
) -> String {
    let limits = &container.resources.limits;
    let requests = &container.resources.requests;
    let cpu_limit = limits.cpu.as_deref().and_then(cores);
    let memory_limit = (limits.memory.as_deref()).and_then(|m| parse_memory_quantity(m).ok());
    let value = match resource {
        "limits.cpu" => cpu_limit.unwrap_or(node_cores as f64),
        "requests.cpu" => (requests.cpu.as_deref().and_then(cores))
            .or(cpu_limit)
            .unwrap_or(0.0),
        "limits.memory" => memory_limit.unwrap_or(default_memory) as f64,
        "requests.memory" => (requests.memory.as_deref())
            .and_then(|m| parse_memory_quantity(m).ok())
            .or(memory_limit)
            .unwrap_or(0) as f64,
        _ => 0.0,
    };
    let divisor = divisor_text
        .and_then(|d| divisor(resource, d).ok())
        .unwrap_or(1.0);
    // Rounded up, as the kubelet does (a 250m limit is 1 core).
    let quotient = value / divisor;
    let rounded = (quotient - 1e-9).ceil().max(0.0);
    format!("{}", rounded as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{ResourceList, Resources};

    fn facts<'a>(
        labels: &'a BTreeMap<String, String>,
        annotations: &'a BTreeMap<String, String>,
    ) -> PodFacts<'a> {
        PodFacts {
            name: "pi-abcde",
            namespace: "team-a",
            uid: "u-1",
            labels,
            annotations,
            node_name: "edge-1",
        }
    }

    #[test]
    fn fields_of_the_instance_read_as_the_kubelet_gives_them() {
        let labels = [("app".to_owned(), "pi".to_owned())].into();
        let annotations = [("note".to_owned(), "a \"b\"".to_owned())].into();
        let pod = facts(&labels, &annotations);
        assert_eq!(field_value("metadata.name", &pod), "pi-abcde");
        assert_eq!(field_value("metadata.namespace", &pod), "team-a");
        assert_eq!(field_value("spec.nodeName", &pod), "edge-1");
        assert_eq!(field_value("metadata.labels['app']", &pod), "pi");
        assert_eq!(field_value("metadata.labels['none']", &pod), "");
        assert_eq!(field_value("metadata.annotations['note']", &pod), "a \"b\"");
        assert_eq!(field_value("metadata.labels", &pod), "app=\"pi\"\n");
        assert_eq!(
            field_value("metadata.annotations", &pod),
            "note=\"a \\\"b\\\"\"\n"
        );
        assert_eq!(field_value("status.podIP", &pod), "127.0.0.1");
    }

    #[test]
    fn only_known_fields_are_taken_and_whole_maps_only_in_volumes() {
        assert!(check_field("metadata.name", false).is_ok());
        assert!(check_field("metadata.labels['a.b/c']", false).is_ok());
        assert!(check_field("metadata.labels", true).is_ok());
        let err = check_field("metadata.labels", false).unwrap_err();
        assert!(err.contains("name one key"), "{err}");
        assert!(check_field("spec.containers", false).is_err());
        assert!(check_field("metadata.labels[app]", false).is_err());
    }

    #[test]
    fn resources_are_divided_and_rounded_up_with_defaults_from_the_node() {
        let mut container = Container::default();
        assert_eq!(
            resource_value(&container, "limits.memory", None, 64 << 20, 2),
            "67108864"
        );
        assert_eq!(
            resource_value(&container, "limits.cpu", None, 64 << 20, 2),
            "2"
        );
        assert_eq!(
            resource_value(&container, "requests.cpu", None, 64 << 20, 2),
            "0"
        );
        container.resources = Resources {
            limits: ResourceList {
                memory: Some("128Mi".into()),
                cpu: Some("250m".into()),
                ..ResourceList::default()
            },
            requests: ResourceList::default(),
        };
        let value = |r: &str, d: Option<&str>| resource_value(&container, r, d, 64 << 20, 2);
        assert_eq!(value("limits.memory", Some("1Mi")), "128");
        assert_eq!(value("limits.cpu", None), "1");
        assert_eq!(value("limits.cpu", Some("1m")), "250");
        assert_eq!(value("requests.cpu", Some("1m")), "250");
        assert_eq!(value("requests.memory", Some("1Mi")), "128");
        assert!(divisor("limits.cpu", "0").is_err());
        assert!(check_resource("limits.ephemeral-storage").is_err());
    }
}
