//! wasmjob extension `spec.dependsOn` on a Job (Dkron's chaining, JobSet's
//! `dependsOn`): the other Jobs, in the same namespace, that must reach a
//! condition before this one starts. Its shape is checked here; the Job
//! controller decides when it is met ([`crate::controller::job::depends`]).

use serde::{Deserialize, Serialize};

use super::FieldError;
use super::validate;

/// One of `spec.dependsOn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dependency {
    /// The Job waited for, in this Job's namespace.
    pub name: String,
    /// What it must reach; `Complete` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<DependencyCondition>,
}

/// What a dependency must reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DependencyCondition {
    /// It succeeded.
    #[default]
    Complete,
    /// It failed.
    Failed,
    /// It ended, either way.
    Finished,
}

/// The Job names a stored Job's manifest (`{metadata, spec}`) depends on.
pub fn names_in(manifest: &serde_json::Value) -> Vec<String> {
    let listed = manifest["spec"]["dependsOn"].as_array();
    let names = listed.into_iter().flatten();
    names
        .filter_map(|d| d["name"].as_str().map(str::to_owned))
        .collect()
}

/// Checks `spec.dependsOn` at `path` (a Job's spec, or a CronJob's job
/// template, which may not have one) and fills the default condition.
pub fn normalize(depends_on: &mut [Dependency], path: &str) -> Result<(), FieldError> {
    if depends_on.is_empty() {
        return Ok(());
    }
    if path.contains("jobTemplate") {
        return Err(FieldError::new(
            format!("{path}.dependsOn"),
            "is for Jobs: a CronJob's runs depend only on their schedule",
        ));
    }
    for (i, dependency) in depends_on.iter_mut().enumerate() {
        let at = format!("{path}.dependsOn[{i}]");
        validate::required(&dependency.name, &format!("{at}.name"))?;
        dependency.condition.get_or_insert_default();
    }
    for (i, dependency) in depends_on.iter().enumerate() {
        if depends_on[..i].iter().any(|d| d.name == dependency.name) {
            return Err(FieldError::new(
                format!("{path}.dependsOn[{i}].name"),
                format!(
                    "job {:?} is listed twice: give each Job once",
                    dependency.name
                ),
            ));
        }
    }
    Ok(())
}
