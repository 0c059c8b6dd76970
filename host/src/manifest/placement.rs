//! Where an instance may run: `nodeSelector` and `affinity.nodeAffinity`'s
//! `requiredDuringSchedulingIgnoredDuringExecution` (`nodeSelectorTerms`
//! with `matchExpressions`: `In`, `NotIn`, `Exists`, `DoesNotExist`), with
//! Kubernetes' meaning: every `nodeSelector` label must match, and at least
//! one term must match when the affinity is given.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::FieldError;
use super::taints::{self, Taint, Toleration};
use super::validate;
use crate::selector::{Requirement, Selector};

/// `affinity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Affinity {
    /// Which nodes may run the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<NodeAffinity>,
}

/// `affinity.nodeAffinity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeAffinity {
    /// A hard requirement; the only kind wasmjob implements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelector>,
}

/// A node selector: the terms are ORed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSelector {
    /// At least one must match.
    #[serde(default)]
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

/// One term: its expressions are ANDed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSelectorTerm {
    /// Requirements on node labels.
    #[serde(default)]
    pub match_expressions: Vec<NodeSelectorRequirement>,
}

/// `key operator values`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// For `In` and `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The placement rules of a pod template, checked and ready to match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    selector: Selector,
    /// `None`: no affinity; otherwise one selector per term, ORed.
    terms: Option<Vec<Selector>>,
    /// What node taints the instance tolerates (see `taints`).
    tolerations: Vec<Toleration>,
}

impl Placement {
    /// Checks `nodeSelector` and `affinity` (at `path`, the pod spec).
    pub fn new(
        node_selector: &BTreeMap<String, String>,
        affinity: Option<&Affinity>,
        path: &str,
    ) -> Result<Placement, FieldError> {
        validate::labels(node_selector, &format!("{path}.nodeSelector"))?;
        let selector = Selector(
            node_selector
                .iter()
                .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
                .collect(),
        );
        let required = affinity
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| {
                n.required_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        let terms = match required {
            None => None,
            Some(required) => {
                let at = format!(
                    "{path}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
                );
                if required.node_selector_terms.is_empty() {
                    return Err(FieldError::new(
                        at,
                        "must have at least one term (a term's expressions must all hold; one term must)",
                    ));
                }
                let mut terms = Vec::new();
                for (t, term) in required.node_selector_terms.iter().enumerate() {
                    let mut requirements = Vec::new();
                    for (e, expr) in term.match_expressions.iter().enumerate() {
                        let at = format!("{at}[{t}].matchExpressions[{e}]");
                        requirements.push(requirement(expr, &at)?);
                    }
                    terms.push(Selector(requirements));
                }
                Some(terms)
            }
        };
        Ok(Placement {
            selector,
            terms,
            tolerations: Vec::new(),
        })
    }

    /// The same placement, tolerating `tolerations`.
    pub fn tolerating(mut self, tolerations: &[Toleration]) -> Placement {
        self.tolerations = tolerations.to_vec();
        self
    }

    /// Whether a node with these labels and taints may run a new instance:
    /// its labels match, and every `NoSchedule` and `NoExecute` taint is
    /// tolerated.
    pub fn admits(&self, labels: &BTreeMap<String, String>, taints: &[Taint]) -> bool {
        self.selector.matches(labels)
            && self
                .terms
                .as_ref()
                .is_none_or(|terms| terms.iter().any(|t| t.matches(labels)))
            && taints::repels(&self.tolerations, taints).is_none()
    }

    /// Whether a DaemonSet's instance belongs on a node with these labels
    /// and taints, as Kubernetes' DaemonSet controller decides: a
    /// `NoSchedule` taint it does not tolerate keeps a new one off but lets
    /// one `running` there stay; a `NoExecute` one does neither.
    pub fn keeps_daemon(
        &self,
        labels: &BTreeMap<String, String>,
        taints: &[Taint],
        running: bool,
    ) -> bool {
        let kept: Vec<Taint> = taints
            .iter()
            .filter(|t| !running || t.effect == taints::TaintEffect::NoExecute)
            .cloned()
            .collect();
        self.admits(labels, &kept)
    }

    /// The first taint of `taints` that keeps the instance off its node.
    pub fn repelled_by<'a>(&self, taints: &'a [Taint]) -> Option<&'a Taint> {
        taints::repels(&self.tolerations, taints)
    }

    /// The tolerations the placement was given.
    pub fn tolerations(&self) -> &[Toleration] {
        &self.tolerations
    }

    /// `nodeSelector` as `a=b,c=d`, for the DaemonSet table; `<none>`.
    pub fn describe(node_selector: &BTreeMap<String, String>) -> String {
        if node_selector.is_empty() {
            return "<none>".into();
        }
        let pairs: Vec<String> = node_selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.join(",")
    }
}

fn requirement(expr: &NodeSelectorRequirement, at: &str) -> Result<Requirement, FieldError> {
    if expr.key.is_empty() {
        return Err(FieldError::new(format!("{at}.key"), "is required"));
    }
    let key = expr.key.clone();
    let values = expr.values.clone();
    let needs_values = |r: Requirement| {
        if values.is_empty() {
            Err(FieldError::new(
                format!("{at}.values"),
                format!("must be non-empty when operator is {}", expr.operator),
            ))
        } else {
            Ok(r)
        }
    };
    let no_values = |r: Requirement| {
        if values.is_empty() {
            Ok(r)
        } else {
            Err(FieldError::new(
                format!("{at}.values"),
                format!("must be empty when operator is {}", expr.operator),
            ))
        }
    };
    match expr.operator.as_str() {
        "In" => needs_values(Requirement::In(key, values.clone())),
        "NotIn" => needs_values(Requirement::NotIn(key, values.clone())),
        "Exists" => no_values(Requirement::Exists(key)),
        "DoesNotExist" => no_values(Requirement::DoesNotExist(key)),
        other => Err(FieldError::new(
            format!("{at}.operator"),
            format!("unsupported value {other:?}: use In, NotIn, Exists or DoesNotExist"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, operator: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn affinity(terms: Vec<Vec<NodeSelectorRequirement>>) -> Affinity {
        Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: terms
                        .into_iter()
                        .map(|match_expressions| NodeSelectorTerm { match_expressions })
                        .collect(),
                }),
            }),
        }
    }

    #[test]
    fn every_node_selector_label_must_match() {
        let p = Placement::new(&labels(&[("disk", "nvme")]), None, "spec").unwrap();
        assert!(p.admits(&labels(&[("disk", "nvme"), ("zone", "a")]), &[]));
        assert!(!p.admits(&labels(&[("disk", "ssd")]), &[]));
        assert!(!p.admits(&labels(&[]), &[]));
        let any = Placement::new(&labels(&[]), None, "spec").unwrap();
        assert!(any.admits(&labels(&[]), &[]));
    }

    #[test]
    fn affinity_terms_are_ored_and_expressions_anded() {
        let a = affinity(vec![
            vec![
                expr("disk", "In", &["nvme", "ssd"]),
                expr("gpu", "DoesNotExist", &[]),
            ],
            vec![expr("role", "Exists", &[])],
        ]);
        let p = Placement::new(&labels(&[]), Some(&a), "spec").unwrap();
        assert!(p.admits(&labels(&[("disk", "ssd")]), &[]));
        assert!(!p.admits(&labels(&[("disk", "ssd"), ("gpu", "1")]), &[]));
        assert!(p.admits(&labels(&[("role", "edge"), ("gpu", "1")]), &[]));
        assert!(!p.admits(&labels(&[("disk", "hdd")]), &[]));
        let not_in = affinity(vec![vec![expr("zone", "NotIn", &["a"])]]);
        let p = Placement::new(&labels(&[]), Some(&not_in), "spec").unwrap();
        assert!(
            p.admits(&labels(&[]), &[]),
            "NotIn admits a node without the label"
        );
        assert!(!p.admits(&labels(&[("zone", "a")]), &[]));
    }

    #[test]
    fn bad_expressions_are_refused_at_their_path() {
        let cases = [
            (expr("disk", "Gt", &["1"]), "matchExpressions[0].operator"),
            (expr("disk", "In", &[]), "matchExpressions[0].values"),
            (expr("disk", "Exists", &["x"]), "matchExpressions[0].values"),
            (expr("", "Exists", &[]), "matchExpressions[0].key"),
        ];
        for (bad, field) in cases {
            let err =
                Placement::new(&labels(&[]), Some(&affinity(vec![vec![bad]])), "spec").unwrap_err();
            assert!(err.path.contains(field), "{err:?}");
        }
        let empty = affinity(vec![]);
        let err = Placement::new(&labels(&[]), Some(&empty), "spec").unwrap_err();
        assert!(err.path.contains("nodeSelectorTerms"), "{err:?}");
    }
}
