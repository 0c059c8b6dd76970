//! ResourceQuota's arithmetic: which stored kind a quota's resource name
//! counts (`count/jobs.batch`, `configmaps`), what a namespace uses of each,
//! and Kubernetes' refusal when an apply would take a namespace past a
//! quota — `exceeded quota: NAME, requested: …, used: …, limited: …`.

use std::collections::BTreeMap;

use crate::manifest::Kind;

/// The stored kind a resource name counts, if wasmjob meters it:
/// `count/PLURAL[.GROUP]` of any kind it keeps in a namespace, and the
/// older `configmaps`, `secrets`.
pub fn counted_kind(name: &str) -> Option<Kind> {
    let wanted = match name {
        "configmaps" | "secrets" => name,
        _ => name.strip_prefix("count/")?,
    };
    Kind::NAMESPACED
        .into_iter()
        .find(|k| k.resource() == wanted)
}

/// The resource names an object of `kind` counts under.
pub fn names_of(kind: Kind) -> Vec<String> {
    let mut names = vec![format!("count/{}", kind.resource())];
    if matches!(kind, Kind::ConfigMap | Kind::Secret) {
        names.push(kind.resource().to_owned());
    }
    names
}

/// The first resource of quota `name` (its `hard` limits) that `used` and
/// `requested` together pass, in Kubernetes' words; none when it holds.
pub fn exceeded(
    name: &str,
    hard: &BTreeMap<String, String>,
    used: &BTreeMap<String, i64>,
    requested: &BTreeMap<String, i64>,
) -> Option<String> {
    for (resource, asked) in requested {
        let Some(limit) = hard.get(resource).and_then(|h| h.parse::<i64>().ok()) else {
            continue;
        };
        let now = used.get(resource).copied().unwrap_or(0);
        if now + asked > limit {
            return Some(format!(
                "exceeded quota: {name}, requested: {resource}={asked}, used: \
                 {resource}={now}, limited: {resource}={limit}"
            ));
        }
    }
    None
}

/// The resource name of the output a namespace's instances have stored,
/// every attempt's, while their objects live (a quantity: `100Mi`).
pub const LOG_BYTES: &str = "wasmjob.dev/logs";

/// `bytes` as a Kubernetes quantity: `2Mi`, `1Gi`, or the plain number.
pub fn bytes_quantity(bytes: u64) -> String {
    match bytes {
        0 => "0".to_owned(),
        b if b.is_multiple_of(1 << 20) => crate::manifest::memory_quantity(b),
        b if b.is_multiple_of(1 << 10) => format!("{}Ki", b >> 10),
        b => b.to_string(),
    }
}

/// Whether wasmjob meters resource `name` of a quota: object counts,
/// instances at once (`pods`) and their memory (`limits.memory`), and
/// stored output ([`LOG_BYTES`]).
pub fn metered(name: &str) -> bool {
    counted_kind(name).is_some()
        || matches!(name, "pods" | "count/pods" | "limits.memory" | LOG_BYTES)
}

/// What a namespace uses of each resource a quota names that wasmjob
/// meters (for `status.used`): objects counted; instances as their Jobs'
/// `status.active` summed, and their memory limits with them.
pub fn used_in(
    store: &crate::store::Store,
    namespace: &str,
    hard: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, crate::store::StoreError> {
    let mut used = BTreeMap::new();
    for name in hard.keys() {
        if let Some(kind) = counted_kind(name) {
            let count = store.live_objects(kind, Some(namespace))?.len();
            used.insert(name.clone(), count.to_string());
        }
    }
    let running = ["pods", "count/pods", "limits.memory"];
    if hard.keys().any(|k| running.contains(&k.as_str())) {
        let (mut pods, mut memory) = (0u64, 0u64);
        for job in store.live_objects(Kind::Job, Some(namespace))? {
            let active = job.status["active"].as_u64().unwrap_or(0);
            pods += active;
            memory += active * memory_each(&job.manifest);
        }
        // A DaemonSet's instances count as its pods do, on every node;
        // counted in the store, as its rollouts leave a history.
        for ds in store.live_objects(Kind::DaemonSet, Some(namespace))? {
            let running = store.unfinished_instances_of(&ds.uid)?;
            pods += running;
            memory += running * memory_each(&ds.manifest);
        }
        for name in hard.keys() {
            match name.as_str() {
                "pods" | "count/pods" => used.insert(name.clone(), pods.to_string()),
                "limits.memory" => {
                    used.insert(name.clone(), crate::manifest::memory_quantity(memory))
                }
                _ => None,
            };
        }
    }
    if hard.contains_key(LOG_BYTES) {
        let stored = store.log_bytes(namespace)?;
        used.insert(LOG_BYTES.to_owned(), bytes_quantity(stored));
    }
    Ok(used)
}

/// The memory limits of a stored workload's template's containers summed.
fn memory_each(manifest: &serde_json::Value) -> u64 {
    let containers = manifest["spec"]["template"]["spec"]["containers"].as_array();
    (containers.into_iter().flatten())
        .filter_map(|c| c["resources"]["limits"]["memory"].as_str())
        .filter_map(|m| crate::manifest::parse_memory_quantity(m).ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map<T: Clone>(pairs: &[(&str, T)]) -> BTreeMap<String, T> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn names_count_the_kinds_kubernetes_names() {
        assert_eq!(counted_kind("count/jobs.batch"), Some(Kind::Job));
        assert_eq!(counted_kind("count/cronjobs.batch"), Some(Kind::CronJob));
        assert_eq!(counted_kind("count/daemonsets.apps"), Some(Kind::DaemonSet));
        assert_eq!(counted_kind("configmaps"), Some(Kind::ConfigMap));
        assert_eq!(counted_kind("count/secrets"), Some(Kind::Secret));
        assert_eq!(counted_kind("count/jobs"), None);
        assert_eq!(counted_kind("pods"), None);
        assert_eq!(
            counted_kind("count/priorityclasses.scheduling.k8s.io"),
            None
        );
        assert_eq!(names_of(Kind::Secret), ["count/secrets", "secrets"]);
        assert_eq!(names_of(Kind::Job), ["count/jobs.batch"]);
    }

    #[test]
    fn the_eleventh_job_passes_a_quota_of_ten() {
        let hard = map(&[("count/jobs.batch", "10".to_owned())]);
        let one = map(&[("count/jobs.batch", 1)]);
        assert_eq!(
            exceeded("q", &hard, &map(&[("count/jobs.batch", 9)]), &one),
            None
        );
        assert_eq!(
            exceeded("q", &hard, &map(&[("count/jobs.batch", 10)]), &one).unwrap(),
            "exceeded quota: q, requested: count/jobs.batch=1, used: count/jobs.batch=10, \
             limited: count/jobs.batch=10"
        );
        // Two in one apply, with room for one: refused.
        let two = map(&[("count/jobs.batch", 2)]);
        assert!(exceeded("q", &hard, &map(&[("count/jobs.batch", 9)]), &two).is_some());
        // What the quota does not name is not limited.
        let other = map(&[("count/cronjobs.batch", 5)]);
        assert_eq!(exceeded("q", &hard, &BTreeMap::new(), &other), None);
    }
}
