//! The Job's failure and success policies: `podFailurePolicy`,
//! `successPolicy`, and wasmjob's `backoffPolicy`, with Kubernetes' validation.

use serde::{Deserialize, Serialize};

use super::FieldError;
use super::validate::{self, Check};

/// `podFailurePolicy`: rules checked in order against each failed instance;
/// the first that matches decides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodFailurePolicy {
    /// At most 20 rules.
    pub rules: Vec<PodFailurePolicyRule>,
}

/// One rule: an action and exactly one requirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodFailurePolicyRule {
    /// What a match does.
    pub action: FailureAction,
    /// Matches on the exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_exit_codes: Option<OnExitCodes>,
    /// Matches on instance conditions (`DisruptionTarget`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_pod_conditions: Vec<OnPodCondition>,
}

/// What a matching rule does with a failed instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureAction {
    /// Fail the whole Job now.
    FailJob,
    /// Do not count the failure against `backoffLimit`; replace the instance.
    Ignore,
    /// Count it, as without a policy.
    Count,
    /// Fail this index (needs `backoffLimitPerIndex`).
    FailIndex,
}

impl FailureAction {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureAction::FailJob => "FailJob",
            FailureAction::Ignore => "Ignore",
            FailureAction::Count => "Count",
            FailureAction::FailIndex => "FailIndex",
        }
    }
}

/// `onExitCodes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OnExitCodes {
    /// Must name the container if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// `In` or `NotIn`.
    pub operator: ExitCodeOperator,
    /// The exit codes; `In` may not list 0.
    pub values: Vec<i32>,
}

/// `onExitCodes.operator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitCodeOperator {
    /// The exit code is one of the values.
    In,
    /// The exit code is non-zero and none of the values.
    NotIn,
}

/// `onPodConditions[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OnPodCondition {
    /// The condition type, such as `DisruptionTarget`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `True` (default), `False` or `Unknown`.
    #[serde(default = "condition_true")]
    pub status: String,
}

fn condition_true() -> String {
    "True".to_owned()
}

/// `successPolicy` (Indexed Jobs): the Job succeeds once any rule is met.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuccessPolicy {
    /// 1 to 20 rules.
    pub rules: Vec<SuccessPolicyRule>,
}

/// One success rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuccessPolicyRule {
    /// Indexes that must all succeed, in compact form (`0,2-3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded_indexes: Option<String>,
    /// How many (of `succeededIndexes`, or of all) must succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded_count: Option<i32>,
}

/// wasmjob extension `backoffPolicy`: the delay before re-creating a failed
/// instance. Kubernetes fixes it at 10 s, doubling, capped at 10 minutes, and
/// does not let users tune it; here those are the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackoffPolicy {
    /// Delay after the first failure; default 10. 0 retries at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i64>,
    /// Cap of the doubling delay; default 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay_seconds: Option<i64>,
}

/// Parses Kubernetes' compact index form (`1,3-5,7`), checking each index is
/// below `completions`.
pub fn parse_indexes(text: &str, completions: u32) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("invalid index range {part:?}: expected N or N-M, as in 1,3-5,7");
        let (start, end) = match part.split_once('-') {
            Some((a, b)) => (
                a.parse::<u32>().map_err(|_| bad())?,
                b.parse::<u32>().map_err(|_| bad())?,
            ),
            None => {
                let n = part.parse::<u32>().map_err(|_| bad())?;
                (n, n)
            }
        };
        if start > end {
            return Err(bad());
        }
        if end >= completions {
            return Err(format!(
                "index {end} is out of range: completions is {completions}"
            ));
        }
        if out.last().is_some_and(|&last| start <= last) {
            return Err(format!(
                "indexes must be increasing and not overlap, got {text:?}"
            ));
        }
        out.extend(start..=end);
    }
    Ok(out)
}

impl PodFailurePolicy {
    /// Kubernetes' rules for the policy.
    pub fn validate(
        &self,
        path: &str,
        containers: &[&str],
        per_index: bool,
    ) -> Result<(), FieldError> {
        if self.rules.len() > 20 {
            return Err(FieldError::new(
                format!("{path}.rules"),
                "at most 20 rules are allowed",
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("{path}.rules[{i}]");
            match (&rule.on_exit_codes, rule.on_pod_conditions.is_empty()) {
                (Some(_), false) | (None, true) => {
                    return Err(FieldError::new(
                        at,
                        "needs exactly one of onExitCodes and onPodConditions",
                    ));
                }
                _ => {}
            }
            if rule.action == FailureAction::FailIndex && !per_index {
                return Err(FieldError::new(
                    format!("{at}.action"),
                    "FailIndex needs spec.backoffLimitPerIndex",
                ));
            }
            if let Some(codes) = &rule.on_exit_codes {
                codes.validate(&format!("{at}.onExitCodes"), containers)?;
            }
            for (j, condition) in rule.on_pod_conditions.iter().enumerate() {
                if !matches!(condition.status.as_str(), "True" | "False" | "Unknown") {
                    return Err(FieldError::new(
                        format!("{at}.onPodConditions[{j}].status"),
                        format!(
                            "unsupported value {:?}: use True, False or Unknown",
                            condition.status
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl OnExitCodes {
    fn validate(&self, path: &str, containers: &[&str]) -> Result<(), FieldError> {
        if let Some(name) = &self.container_name
            && !containers.contains(&name.as_str())
        {
            let known = containers.join(", ");
            return Err(FieldError::new(
                format!("{path}.containerName"),
                format!("no container named {name:?}; the containers are {known}"),
            ));
        }
        if self.values.is_empty() || self.values.len() > 255 {
            return Err(FieldError::new(
                format!("{path}.values"),
                "needs 1 to 255 exit codes",
            ));
        }
        let mut sorted = self.values.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.values.len() {
            return Err(FieldError::new(
                format!("{path}.values"),
                "must not repeat a value",
            ));
        }
        if self.operator == ExitCodeOperator::In && self.values.contains(&0) {
            return Err(FieldError::new(
                format!("{path}.values"),
                "must not contain 0 with operator In: exit code 0 is success",
            ));
        }
        Ok(())
    }
}

impl SuccessPolicy {
    /// Kubernetes' rules for the policy of an Indexed Job of `completions`.
    pub fn validate(&self, path: &str, indexed: bool, completions: u32) -> Result<(), FieldError> {
        if !indexed {
            return Err(FieldError::new(
                path,
                "is only allowed when completionMode is Indexed",
            ));
        }
        if self.rules.is_empty() || self.rules.len() > 20 {
            return Err(FieldError::new(
                format!("{path}.rules"),
                "needs 1 to 20 rules",
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("{path}.rules[{i}]");
            let listed = match &rule.succeeded_indexes {
                Some(text) => Some(
                    parse_indexes(text, completions)
                        .at(&format!("{at}.succeededIndexes"))?
                        .len(),
                ),
                None => None,
            };
            match (listed, rule.succeeded_count) {
                (None, None) => {
                    return Err(FieldError::new(
                        at,
                        "needs succeededIndexes or succeededCount",
                    ));
                }
                (_, Some(count)) => {
                    validate::positive(count.into()).at(&format!("{at}.succeededCount"))?;
                    let most = listed.unwrap_or(completions as usize);
                    if count as usize > most {
                        return Err(FieldError::new(
                            format!("{at}.succeededCount"),
                            format!(
                                "must be at most {most}, the number of indexes it counts, got {count}"
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl BackoffPolicy {
    /// Both delays non-negative.
    pub fn validate(&self, path: &str) -> Result<(), FieldError> {
        if let Some(s) = self.initial_delay_seconds {
            validate::non_negative(s).at(&format!("{path}.initialDelaySeconds"))?;
        }
        if let Some(s) = self.max_delay_seconds {
            validate::non_negative(s).at(&format!("{path}.maxDelaySeconds"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_indexes;

    #[test]
    fn compact_indexes_parse_in_order() {
        assert_eq!(parse_indexes("1,3-5,7", 8), Ok(vec![1, 3, 4, 5, 7]));
        assert!(parse_indexes("3-1", 8).is_err());
        assert!(parse_indexes("1,1", 8).is_err());
        assert!(parse_indexes("8", 8).unwrap_err().contains("out of range"));
        assert!(parse_indexes("a", 8).is_err());
    }
}
