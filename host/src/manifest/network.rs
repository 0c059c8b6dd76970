//! `networking.k8s.io/v1` NetworkPolicies: the grants of network egress.
//! An instance has no network until a policy whose `podSelector` matches
//! its labels, with `Egress` among its `policyTypes`, lets it reach a
//! destination (see [`crate::egress`] for how the policies of a namespace
//! add up, and `runtime::network` for where it is enforced).
//!
//! The shape is Kubernetes', with two differences, both documented in
//! docs/NETWORK.md:
//!
//! - a peer may name hosts (`to[].hosts: ["api.example.com",
//!   "*.example.org:443"]`), a wasmjob extension Kubernetes lacks;
//! - a peer that is only a `podSelector` or `namespaceSelector` grants
//!   nothing: instances have no addresses another instance could reach.
//!
//! `ingress` rules are accepted and stored; instances accept no connections
//! whatever they say.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::FieldError;
use crate::egress::cidr::Cidr;
use crate::selector::{Requirement, Selector};

/// The API version of NetworkPolicies.
pub const NETWORKING_V1: &str = "networking.k8s.io/v1";

/// A NetworkPolicy's `spec`, as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkPolicySpec {
    /// The instances the policy applies to; empty selects every instance
    /// of the namespace.
    #[serde(default)]
    pub pod_selector: PolicySelector,
    /// `Ingress`, `Egress`: defaulted as Kubernetes does (`Ingress`, and
    /// `Egress` when there are egress rules).
    #[serde(default)]
    pub policy_types: Vec<String>,
    /// Accepted and kept; instances accept no connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<serde_json::Value>,
    /// What the selected instances may reach: the union of the rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressRule>,
}

/// A `metav1.LabelSelector`: `matchLabels` and `matchExpressions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySelector {
    /// Labels that must all be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Requirements that must all hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<SelectorExpression>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SelectorExpression {
    /// The label.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// For `In` and `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// One egress rule: these destinations, on these ports. An empty `to`
/// means every destination, empty `ports` every port.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EgressRule {
    /// The destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<Peer>,
    /// The ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PolicyPort>,
}

/// A destination: an address block, or (wasmjob's extension) host names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Peer {
    /// Addresses in `cidr` but not in any of `except`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
    /// Other pods: grants nothing here (instances have no addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<PolicySelector>,
    /// Other namespaces' pods: grants nothing here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<PolicySelector>,
    /// Host names, `*.` wildcards, each with an optional `:port`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

/// `ipBlock`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpBlock {
    /// `10.0.0.0/8`, `2001:db8::/32`.
    pub cidr: String,
    /// Blocks inside `cidr` left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

/// One `ports` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyPort {
    /// `TCP` (the default), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The port, or the first of a range; absent: every port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortValue>,
    /// The last port of the range that starts at `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i64>,
}

/// A port as Kubernetes writes it: a number or a name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortValue {
    /// `443`.
    Number(i64),
    /// `https`: a container port's name.
    Name(String),
}

impl NetworkPolicySpec {
    /// Checks the spec and fills in Kubernetes' defaults; problems name
    /// their field under `spec`.
    pub fn normalize(&mut self) -> Result<(), FieldError> {
        self.pod_selector.check("spec.podSelector")?;
        for (i, kind) in self.policy_types.iter().enumerate() {
            if kind != "Ingress" && kind != "Egress" {
                return Err(FieldError::new(
                    format!("spec.policyTypes[{i}]"),
                    format!(
                        "unsupported value {kind:?}: supported values: \"Egress\", \"Ingress\""
                    ),
                ));
            }
        }
        if self.policy_types.is_empty() {
            self.policy_types.push("Ingress".to_owned());
            if !self.egress.is_empty() {
                self.policy_types.push("Egress".to_owned());
            }
        }
        for (i, rule) in self.egress.iter_mut().enumerate() {
            rule.normalize(&format!("spec.egress[{i}]"))?;
        }
        Ok(())
    }

    /// Whether the policy limits egress (`policyTypes` has `Egress`).
    pub fn limits_egress(&self) -> bool {
        self.policy_types.iter().any(|t| t == "Egress")
    }
}

impl PolicySelector {
    fn check(&self, at: &str) -> Result<(), FieldError> {
        self.selector()
            .map(drop)
            .map_err(|(i, m)| FieldError::new(format!("{at}.matchExpressions[{i}]"), m))
    }

    /// The selector as `-l` would write it; the position and problem of a
    /// malformed expression.
    pub fn selector(&self) -> Result<Selector, (usize, String)> {
        let mut requirements: Vec<Requirement> = (self.match_labels.iter())
            .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
            .collect();
        for (i, e) in self.match_expressions.iter().enumerate() {
            let key = e.key.clone();
            let values = e.values.clone();
            let needs_values = matches!(e.operator.as_str(), "In" | "NotIn");
            if needs_values == values.is_empty() {
                let problem = if needs_values {
                    format!("{} needs values", e.operator)
                } else {
                    format!("{} takes no values", e.operator)
                };
                return Err((i, problem));
            }
            requirements.push(match e.operator.as_str() {
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                other => {
                    return Err((
                        i,
                        format!(
                            "unsupported operator {other:?}: supported: In, NotIn, Exists, \
                             DoesNotExist"
                        ),
                    ));
                }
            });
        }
        Ok(Selector(requirements))
    }
}

impl EgressRule {
    fn normalize(&mut self, at: &str) -> Result<(), FieldError> {
        for (i, peer) in self.to.iter().enumerate() {
            peer.check(&format!("{at}.to[{i}]"))?;
        }
        for (i, port) in self.ports.iter_mut().enumerate() {
            port.normalize(&format!("{at}.ports[{i}]"))?;
        }
        Ok(())
    }
}

impl Peer {
    fn check(&self, at: &str) -> Result<(), FieldError> {
        let selectors = self.pod_selector.is_some() || self.namespace_selector.is_some();
        let kinds = [self.ip_block.is_some(), selectors, !self.hosts.is_empty()];
        match kinds.iter().filter(|k| **k).count() {
            0 => {
                return Err(FieldError::new(
                    at,
                    "names no destination: give an ipBlock, hosts, or a podSelector or \
                     namespaceSelector",
                ));
            }
            1 => {}
            _ => {
                return Err(FieldError::new(
                    at,
                    "may have only one of ipBlock, hosts, or podSelector/namespaceSelector: \
                     write each as its own entry of to",
                ));
            }
        }
        if let Some(selector) = &self.pod_selector {
            selector.check(&format!("{at}.podSelector"))?;
        }
        if let Some(selector) = &self.namespace_selector {
            selector.check(&format!("{at}.namespaceSelector"))?;
        }
        if let Some(block) = &self.ip_block {
            let cidr = Cidr::parse(&block.cidr)
                .map_err(|m| FieldError::new(format!("{at}.ipBlock.cidr"), m))?;
            for (i, text) in block.except.iter().enumerate() {
                let field = format!("{at}.ipBlock.except[{i}]");
                let except = Cidr::parse(text).map_err(|m| FieldError::new(&field, m))?;
                if !cidr.covers(&except) || except == cidr {
                    return Err(FieldError::new(
                        field,
                        format!("must be a strict subset of the cidr {}", block.cidr),
                    ));
                }
            }
        }
        for (i, host) in self.hosts.iter().enumerate() {
            crate::egress::host::HostPattern::parse(host)
                .map_err(|m| FieldError::new(format!("{at}.hosts[{i}]"), m))?;
        }
        Ok(())
    }
}

impl PolicyPort {
    fn normalize(&mut self, at: &str) -> Result<(), FieldError> {
        let protocol = self.protocol.get_or_insert_with(|| "TCP".to_owned());
        if !matches!(protocol.as_str(), "TCP" | "UDP" | "SCTP") {
            return Err(FieldError::new(
                format!("{at}.protocol"),
                format!(
                    "unsupported value {protocol:?}: supported values: \"SCTP\", \"TCP\", \"UDP\""
                ),
            ));
        }
        let port = match &self.port {
            None => None,
            Some(PortValue::Number(n)) => Some(*n),
            Some(PortValue::Name(name)) => match name.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    return Err(FieldError::new(
                        format!("{at}.port"),
                        format!(
                            "the named port {name:?} is not supported: a name refers to a \
                             destination pod's container port, and wasmjob's destinations are \
                             addresses and hosts: give the port's number"
                        ),
                    ));
                }
            },
        };
        if let Some(n) = port {
            if !(1..=65535).contains(&n) {
                return Err(FieldError::new(
                    format!("{at}.port"),
                    format!("must be between 1 and 65535, inclusive, got {n}"),
                ));
            }
            self.port = Some(PortValue::Number(n));
        }
        if let Some(end) = self.end_port {
            let Some(start) = port else {
                return Err(FieldError::new(
                    format!("{at}.endPort"),
                    "may not be specified when port is not specified",
                ));
            };
            if end < start || end > 65535 {
                return Err(FieldError::new(
                    format!("{at}.endPort"),
                    format!("must be between port ({start}) and 65535, got {end}"),
                ));
            }
        }
        Ok(())
    }

    /// The ports, first and last (every port when none is given).
    pub fn range(&self) -> (u16, u16) {
        match &self.port {
            Some(PortValue::Number(n)) => {
                let start = *n as u16;
                (start, self.end_port.map_or(start, |e| e as u16))
            }
            _ => (1, u16::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Result<NetworkPolicySpec, FieldError> {
        let mut spec: NetworkPolicySpec = serde_yaml_ng::from_str(yaml).unwrap();
        spec.normalize().map(|()| spec)
    }

    fn problem(yaml: &str) -> String {
        let e = spec(yaml).unwrap_err();
        format!("{}: {}", e.path, e.message)
    }

    #[test]
    fn policy_types_default_as_in_kubernetes() {
        let ingress_only = spec("podSelector: {}").unwrap();
        assert_eq!(ingress_only.policy_types, ["Ingress"]);
        assert!(!ingress_only.limits_egress());
        let both = spec("egress: [{}]").unwrap();
        assert_eq!(both.policy_types, ["Ingress", "Egress"]);
        let deny_all = spec("policyTypes: [Egress]").unwrap();
        assert!(deny_all.limits_egress() && deny_all.egress.is_empty());
    }

    #[test]
    fn ports_default_to_tcp_and_take_numbers_in_strings() {
        let s =
            spec("egress: [{ports: [{port: '8080', endPort: 8090}, {protocol: UDP}]}]").unwrap();
        let ports = &s.egress[0].ports;
        assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
        assert_eq!(ports[0].range(), (8080, 8090));
        assert_eq!(ports[1].range(), (1, 65535));
    }

    #[test]
    fn bad_fields_are_named() {
        for (yaml, expected) in [
            (
                "policyTypes: [Outbound]",
                "spec.policyTypes[0]: unsupported value \"Outbound\"",
            ),
            (
                "egress: [{to: [{ipBlock: {cidr: 10.0.0.0/33}}]}]",
                "spec.egress[0].to[0].ipBlock.cidr:",
            ),
            (
                "egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [192.168.0.0/16]}}]}]",
                "spec.egress[0].to[0].ipBlock.except[0]: must be a strict subset",
            ),
            (
                "egress: [{ports: [{port: https}]}]",
                "spec.egress[0].ports[0].port: the named port \"https\" is not supported",
            ),
            (
                "egress: [{ports: [{port: 0}]}]",
                "spec.egress[0].ports[0].port: must be between 1 and 65535",
            ),
            (
                "egress: [{ports: [{port: 90, endPort: 80}]}]",
                "spec.egress[0].ports[0].endPort: must be between port (90)",
            ),
            (
                "egress: [{ports: [{endPort: 80}]}]",
                "spec.egress[0].ports[0].endPort: may not be specified",
            ),
            (
                "egress: [{ports: [{protocol: ICMP}]}]",
                "spec.egress[0].ports[0].protocol: unsupported value \"ICMP\"",
            ),
            (
                "egress: [{to: [{}]}]",
                "spec.egress[0].to[0]: names no destination",
            ),
            (
                "egress: [{to: [{hosts: [a.example], ipBlock: {cidr: 10.0.0.0/8}}]}]",
                "spec.egress[0].to[0]: may have only one of",
            ),
            (
                "egress: [{to: [{hosts: ['exa mple.com']}]}]",
                "spec.egress[0].to[0].hosts[0]:",
            ),
            (
                "podSelector: {matchExpressions: [{key: a, operator: In}]}",
                "spec.podSelector.matchExpressions[0]: In needs values",
            ),
        ] {
            let got = problem(yaml);
            assert!(got.starts_with(expected), "{yaml}: {got}");
        }
    }

    #[test]
    fn a_selector_reads_labels_and_expressions() {
        let s = spec(
            "podSelector: {matchLabels: {app: report}, matchExpressions: \
             [{key: tier, operator: NotIn, values: [test]}]}",
        )
        .unwrap();
        let selector = s.pod_selector.selector().unwrap();
        let labels = |pairs: &[(&str, &str)]| {
            (pairs.iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert!(selector.matches(&labels(&[("app", "report")])));
        assert!(!selector.matches(&labels(&[("app", "report"), ("tier", "test")])));
        assert!(!selector.matches(&labels(&[("app", "other")])));
    }
}
