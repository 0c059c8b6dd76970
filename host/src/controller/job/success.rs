//! `successPolicy` (Indexed Jobs): the Job succeeds as soon as any rule is met,
//! before every index has.

use std::collections::BTreeSet;

use crate::manifest::{JobSpec, parse_indexes};

/// Whether any success rule is met by the succeeded indexes.
pub fn met(spec: &JobSpec, succeeded: &BTreeSet<u32>) -> bool {
    let Some(policy) = &spec.success_policy else {
        return false;
    };
    let completions = spec.completions().unwrap_or(0);
    policy.rules.iter().any(|rule| {
        let counted: usize = match &rule.succeeded_indexes {
            // Validated at apply time; an unparsable rule never matches.
            Some(text) => match parse_indexes(text, completions) {
                Ok(indexes) => {
                    let done = indexes.iter().filter(|i| succeeded.contains(i)).count();
                    if rule.succeeded_count.is_none() && done < indexes.len() {
                        return false;
                    }
                    done
                }
                Err(_) => return false,
            },
            None => succeeded.len(),
        };
        rule.succeeded_count
            .is_none_or(|n| counted >= n.max(0) as usize)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{CompletionMode, SuccessPolicy, SuccessPolicyRule};

    fn spec(rules: Vec<SuccessPolicyRule>) -> JobSpec {
        JobSpec {
            completions: Some(5),
            completion_mode: Some(CompletionMode::Indexed),
            success_policy: Some(SuccessPolicy { rules }),
            ..JobSpec::default()
        }
    }

    fn rule(indexes: Option<&str>, count: Option<i32>) -> SuccessPolicyRule {
        SuccessPolicyRule {
            succeeded_indexes: indexes.map(str::to_owned),
            succeeded_count: count,
        }
    }

    #[test]
    fn succeeded_indexes_alone_need_all_of_them() {
        let s = spec(vec![rule(Some("0,2"), None)]);
        assert!(!met(&s, &[0, 1].into()));
        assert!(met(&s, &[0, 2].into()));
    }

    #[test]
    fn succeeded_count_alone_counts_any_index() {
        let s = spec(vec![rule(None, Some(3))]);
        assert!(!met(&s, &[0, 4].into()));
        assert!(met(&s, &[0, 3, 4].into()));
    }

    #[test]
    fn both_count_within_the_listed_indexes() {
        let s = spec(vec![rule(Some("1-3"), Some(2))]);
        assert!(!met(&s, &[0, 1, 4].into()), "only index 1 is in 1-3");
        assert!(met(&s, &[1, 3].into()));
    }

    #[test]
    fn any_rule_is_enough() {
        let s = spec(vec![rule(Some("4"), None), rule(None, Some(5))]);
        assert!(met(&s, &[4].into()));
    }
}
