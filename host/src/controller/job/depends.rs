//! `spec.dependsOn` (wasmjob extension): whether the Jobs a Job waits for
//! have reached their conditions ([`check`]), and whether a set of Jobs
//! waits for itself ([`cycle`], refused at apply). A dependency that ended
//! the other way can never be met: the Job fails, `DependencyFailed`.

use crate::controller::cronjob::RunState;
use crate::manifest::{Dependency, DependencyCondition};
use crate::time::Micros;

/// While a Job waits, its dependencies are looked at again this often (and
/// at every pass of the runner).
pub const DEPENDENCY_POLL: Micros = 250_000;

/// Where a Job's dependencies stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dependencies {
    /// Every one reached its condition: the Job may start.
    Met,
    /// Some are still to end (or to be created); what it waits for.
    Waiting(String),
    /// One ended the other way; why the Job cannot run.
    Failed(String),
}

/// Where `depends_on` stands, with `state` telling where each named Job
/// is ([`RunState::Gone`]: not there, perhaps not created yet).
pub fn check(depends_on: &[Dependency], state: impl Fn(&str) -> RunState) -> Dependencies {
    let mut waiting = Vec::new();
    for dependency in depends_on {
        let wanted = dependency.condition.unwrap_or_default();
        let name = &dependency.name;
        match (state(name), wanted) {
            (RunState::Finished(_), DependencyCondition::Finished)
            | (RunState::Finished(true), DependencyCondition::Complete)
            | (RunState::Finished(false), DependencyCondition::Failed) => {}
            (RunState::Finished(succeeded), _) => {
                let ended = if succeeded { "completed" } else { "failed" };
                return Dependencies::Failed(format!(
                    "job {name} {ended}, and this Job depends on it being {wanted:?}"
                ));
            }
            (RunState::Running, _) => waiting.push(format!("{name} ({wanted:?})")),
            (RunState::Gone, _) => waiting.push(format!("{name} ({wanted:?}; not found)")),
        }
    }
    match waiting.is_empty() {
        true => Dependencies::Met,
        false => Dependencies::Waiting(format!("waiting for job {}", waiting.join(", "))),
    }
}

/// The cycle through `from`, if the Jobs `depends_on` names wait for each
/// other back to it: `[from, …, from]`.
pub fn cycle(from: &str, depends_on: impl Fn(&str) -> Vec<String>) -> Option<Vec<String>> {
    let mut path = vec![from.to_owned()];
    let mut seen = std::collections::HashSet::new();
    walk(from, &depends_on, &mut path, &mut seen).then_some(path)
}

/// The refusal of a Job whose `depends_on` leads round the cycle `path`
/// (`[job, …, job]`, from [`cycle`]): the field path of the dependency
/// the cycle starts with, and the message naming every step.
pub fn cycle_refusal(depends_on: &[Dependency], path: &[String]) -> (String, String) {
    let first = &path[1];
    let index = depends_on.iter().position(|d| &d.name == first);
    // "job a depends on c, c on b, b on a".
    let mut steps = vec![first.clone()];
    steps.extend(
        path[1..]
            .windows(2)
            .map(|p| format!("{} on {}", p[0], p[1])),
    );
    let message = format!(
        "job {} depends on {}: a cycle never starts; remove one of these dependencies",
        path[0],
        steps.join(", ")
    );
    (
        format!("spec.dependsOn[{}].name", index.unwrap_or(0)),
        message,
    )
}

/// Depth first from the last of `path`; true when it came back to the first.
fn walk(
    from: &str,
    depends_on: &impl Fn(&str) -> Vec<String>,
    path: &mut Vec<String>,
    seen: &mut std::collections::HashSet<String>,
) -> bool {
    let at = path.last().cloned().unwrap_or_default();
    for next in depends_on(&at) {
        path.push(next.clone());
        if next == from {
            return true;
        }
        if seen.insert(next.clone()) && walk(from, depends_on, path, seen) {
            return true;
        }
        path.pop();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(name: &str, condition: DependencyCondition) -> Dependency {
        Dependency {
            name: name.into(),
            condition: Some(condition),
        }
    }

    #[test]
    fn a_job_waits_until_each_dependency_reaches_its_condition() {
        let deps = [
            on("extract", DependencyCondition::Complete),
            on("alert", DependencyCondition::Failed),
            on("cleanup", DependencyCondition::Finished),
        ];
        let all_done = |name: &str| match name {
            "extract" => RunState::Finished(true),
            "alert" => RunState::Finished(false),
            _ => RunState::Finished(false),
        };
        assert_eq!(check(&deps, all_done), Dependencies::Met);
        let some_run = |name: &str| match name {
            "extract" => RunState::Running,
            "alert" => RunState::Gone,
            _ => RunState::Finished(true),
        };
        assert_eq!(
            check(&deps, some_run),
            Dependencies::Waiting(
                "waiting for job extract (Complete), alert (Failed; not found)".into()
            )
        );
    }

    #[test]
    fn a_dependency_that_ended_the_other_way_fails_the_job() {
        let deps = [on("extract", DependencyCondition::Complete)];
        let failed = check(&deps, |_| RunState::Finished(false));
        assert_eq!(
            failed,
            Dependencies::Failed(
                "job extract failed, and this Job depends on it being Complete".into()
            )
        );
        let deps = [on("alert", DependencyCondition::Failed)];
        assert!(matches!(
            check(&deps, |_| RunState::Finished(true)),
            Dependencies::Failed(_)
        ));
        // A failure decides even while another dependency still runs.
        let deps = [
            on("slow", DependencyCondition::Complete),
            on("extract", DependencyCondition::Complete),
        ];
        let state = |name: &str| match name {
            "slow" => RunState::Running,
            _ => RunState::Finished(false),
        };
        assert!(matches!(check(&deps, state), Dependencies::Failed(_)));
    }

    #[test]
    fn cycles_are_found_through_any_length_and_chains_are_not_cycles() {
        let graph = |edges: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                let out = edges.iter().filter(|(from, _)| *from == name);
                out.map(|(_, to)| to.to_string()).collect::<Vec<_>>()
            }
        };
        let chain = graph(&[("c", "b"), ("b", "a")]);
        assert_eq!(cycle("c", chain), None);
        let three = graph(&[("a", "c"), ("c", "b"), ("b", "a")]);
        assert_eq!(cycle("a", three).unwrap(), ["a", "c", "b", "a"]);
        assert_eq!(cycle("a", graph(&[("a", "a")])).unwrap(), ["a", "a"]);
        // A cycle elsewhere in the graph is not this Job's, and ends.
        let elsewhere = graph(&[("a", "b"), ("b", "c"), ("c", "b")]);
        assert_eq!(cycle("a", elsewhere), None);
    }
}
