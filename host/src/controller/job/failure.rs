//! `podFailurePolicy`: what one failed instance means for its Job. Rules are
//! checked in order and the first match decides; without a match (or a
//! policy) the failure counts against `backoffLimit`.

use crate::manifest::{ExitCodeOperator, FailureAction, JobSpec, PodFailurePolicyRule};

/// What the controller knows of a failed instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFailure {
    /// The instance's name, for messages.
    pub instance: String,
    /// The exit code, when it exited (not when it trapped).
    pub exit_code: Option<i32>,
    /// The instance was lost to its node going away (`NodeRestart`,
    /// `NodeLost`): the `DisruptionTarget` condition.
    pub disruption: bool,
}

/// How a failure is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Counts against `backoffLimit` (and the index's limit).
    Count,
    /// Does not count; the instance is replaced.
    Ignore,
    /// The Job fails now, with this message.
    FailJob(String),
    /// The instance's index fails now.
    FailIndex,
}

/// Applies the Job's `podFailurePolicy` to one failed instance.
pub fn judge(spec: &JobSpec, failure: &InstanceFailure) -> Verdict {
    let Some(policy) = &spec.pod_failure_policy else {
        return Verdict::Count;
    };
    let container = &spec.template.spec.containers[0].name;
    for (index, rule) in policy.rules.iter().enumerate() {
        if !matches(rule, failure) {
            continue;
        }
        return match rule.action {
            FailureAction::Count => Verdict::Count,
            FailureAction::Ignore => Verdict::Ignore,
            FailureAction::FailIndex => Verdict::FailIndex,
            FailureAction::FailJob => Verdict::FailJob(match failure.exit_code {
                // Kubernetes' own wording.
                Some(code) => format!(
                    "Container {container} for pod {} failed with exit code {code} matching FailJob rule at index {index}",
                    failure.instance
                ),
                None => format!(
                    "Pod {} has condition DisruptionTarget matching FailJob rule at index {index}",
                    failure.instance
                ),
            }),
        };
    }
    Verdict::Count
}

fn matches(rule: &PodFailurePolicyRule, failure: &InstanceFailure) -> bool {
    if let Some(codes) = &rule.on_exit_codes {
        let Some(code) = failure.exit_code else {
            return false;
        };
        return match codes.operator {
            ExitCodeOperator::In => codes.values.contains(&code),
            ExitCodeOperator::NotIn => code != 0 && !codes.values.contains(&code),
        };
    }
    rule.on_pod_conditions
        .iter()
        .any(|c| c.kind == "DisruptionTarget" && (c.status == "True") == failure.disruption)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Container, OnExitCodes, OnPodCondition, PodFailurePolicy};

    fn spec(rules: Vec<PodFailurePolicyRule>) -> JobSpec {
        let mut spec = JobSpec::default();
        spec.template.spec.containers.push(Container {
            name: "main".into(),
            ..Container::default()
        });
        spec.pod_failure_policy = Some(PodFailurePolicy { rules });
        spec
    }

    fn on_codes(
        action: FailureAction,
        operator: ExitCodeOperator,
        values: Vec<i32>,
    ) -> PodFailurePolicyRule {
        PodFailurePolicyRule {
            action,
            on_exit_codes: Some(OnExitCodes {
                container_name: None,
                operator,
                values,
            }),
            on_pod_conditions: Vec::new(),
        }
    }

    fn exited(code: i32) -> InstanceFailure {
        InstanceFailure {
            instance: "job-abcde".into(),
            exit_code: Some(code),
            disruption: false,
        }
    }

    #[test]
    fn fail_job_on_an_exit_code_in_the_list() {
        let s = spec(vec![on_codes(
            FailureAction::FailJob,
            ExitCodeOperator::In,
            vec![42],
        )]);
        assert_eq!(
            judge(&s, &exited(42)),
            Verdict::FailJob(
                "Container main for pod job-abcde failed with exit code 42 matching FailJob rule at index 0".into()
            )
        );
        assert_eq!(judge(&s, &exited(1)), Verdict::Count);
    }

    #[test]
    fn not_in_matches_other_non_zero_codes() {
        let s = spec(vec![on_codes(
            FailureAction::Ignore,
            ExitCodeOperator::NotIn,
            vec![1, 2],
        )]);
        assert_eq!(judge(&s, &exited(3)), Verdict::Ignore);
        assert_eq!(judge(&s, &exited(2)), Verdict::Count);
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let s = spec(vec![
            on_codes(FailureAction::Count, ExitCodeOperator::In, vec![5]),
            on_codes(FailureAction::FailJob, ExitCodeOperator::In, vec![5, 6]),
        ]);
        assert_eq!(judge(&s, &exited(5)), Verdict::Count);
        assert!(matches!(judge(&s, &exited(6)), Verdict::FailJob(_)));
    }

    #[test]
    fn traps_have_no_exit_code_and_never_match_exit_code_rules() {
        let s = spec(vec![on_codes(
            FailureAction::FailJob,
            ExitCodeOperator::NotIn,
            vec![1],
        )]);
        let trapped = InstanceFailure {
            exit_code: None,
            ..exited(0)
        };
        assert_eq!(judge(&s, &trapped), Verdict::Count);
    }

    #[test]
    fn disruptions_match_disruption_target() {
        let s = spec(vec![PodFailurePolicyRule {
            action: FailureAction::Ignore,
            on_exit_codes: None,
            on_pod_conditions: vec![OnPodCondition {
                kind: "DisruptionTarget".into(),
                status: "True".into(),
            }],
        }]);
        let lost = InstanceFailure {
            exit_code: None,
            disruption: true,
            ..exited(0)
        };
        assert_eq!(judge(&s, &lost), Verdict::Ignore);
        assert_eq!(judge(&s, &exited(1)), Verdict::Count);
    }

    #[test]
    fn no_policy_counts_everything() {
        assert_eq!(judge(&JobSpec::default(), &exited(9)), Verdict::Count);
    }
}
