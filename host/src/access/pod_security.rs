//! Pod Security admission: the levels a Namespace's labels set
//! (`pod-security.kubernetes.io/enforce`, `warn`, `audit`: `privileged`,
//! `baseline` or `restricted`), and the checks of those levels that mean
//! something to a Wasm sandbox.
//!
//! What a sandboxed instance can be given beyond its own directories is
//! the host's file system: a `hostPath` volume. So `baseline` refuses
//! `hostPath` volumes (Kubernetes' "hostPath volumes" check) and
//! `restricted` also limits the volume types (its "restricted volume
//! types" check; every other type wasmjob has is on its list). The other
//! checks of the two levels are about powers the sandbox never grants —
//! host namespaces, privileged containers, added capabilities, kernel
//! users and seccomp — which wasmjob ignores with a warning at apply
//! whatever the level, so they cannot be broken. The words are Kubernetes'
//! (`violates PodSecurity "baseline:latest": hostPath volumes (volume
//! "data")`), so a message found in Kubernetes' documentation means the
//! same here.
//!
//! A node may set defaults for namespaces that set no level of their own
//! (`serve --pod-security-defaults enforce=baseline`, as kube-apiserver's
//! `PodSecurityConfiguration` `defaults`); without, a namespace with no
//! labels is `privileged`, Kubernetes' default.
//!
//! Pure: the runner's apply reads the Namespace's labels and asks
//! [`Levels::check`]; the unit tests below pin every rule.

use std::collections::BTreeMap;

use crate::manifest::PodSpec;

/// The label prefix of the three modes.
const PREFIX: &str = "pod-security.kubernetes.io/";

/// The modes a Namespace's labels set a level for.
pub const MODES: [&str; 3] = ["enforce", "warn", "audit"];

/// A Pod Security level, loosest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Anything (Kubernetes' default, and wasmjob's).
    Privileged,
    /// No `hostPath` volumes.
    Baseline,
    /// Baseline, and only the volume types Kubernetes' list allows.
    Restricted,
}

impl Level {
    fn parse(value: &str) -> Option<Level> {
        match value {
            "privileged" => Some(Level::Privileged),
            "baseline" => Some(Level::Baseline),
            "restricted" => Some(Level::Restricted),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// A level and the version named beside it (`latest` when none is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The level.
    pub level: Level,
    /// `…-version`, as given: wasmjob's checks are the same in every
    /// version, the version is only named in messages.
    pub version: String,
}

/// What a Namespace's labels ask, mode by mode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Levels {
    /// Refused at apply.
    pub enforce: Option<Versioned>,
    /// Said in a `Warning` at apply.
    pub warn: Option<Versioned>,
    /// Recorded in the audit log's event of the apply.
    pub audit: Option<Versioned>,
}

/// Checks the Pod Security labels of a Namespace: a level that is not one
/// of the three, or a version that is not `latest` or `v1.N`, is the
/// label's error, as Kubernetes says it.
pub fn validate(labels: &BTreeMap<String, String>) -> Result<(), (String, String)> {
    for mode in MODES {
        let key = format!("{PREFIX}{mode}");
        if let Some(value) = labels.get(&key)
            && Level::parse(value).is_none()
        {
            return Err((
                format!("metadata.labels[{key}]"),
                format!(
                    "Invalid value: {value:?}: must be one of privileged, baseline, restricted"
                ),
            ));
        }
        let key = format!("{PREFIX}{mode}-version");
        if let Some(value) = labels.get(&key)
            && !valid_version(value)
        {
            return Err((
                format!("metadata.labels[{key}]"),
                format!("Invalid value: {value:?}: must be \"latest\" or \"v1.N\""),
            ));
        }
    }
    Ok(())
}

fn valid_version(value: &str) -> bool {
    value == "latest"
        || value
            .strip_prefix("v1.")
            .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
}

impl Levels {
    /// The node-wide defaults `serve --pod-security-defaults` names, as
    /// kube-apiserver's `PodSecurityConfiguration` `defaults` does:
    /// `enforce=baseline,warn=restricted,audit=restricted`, each mode
    /// with an optional `…-version`. A namespace's own label for a mode
    /// wins over its default.
    pub fn defaults(text: &str) -> Result<Levels, String> {
        let mut labels = BTreeMap::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not MODE=LEVEL (enforce=baseline)"))?;
            let mode = key.trim_end_matches("-version");
            if !MODES.contains(&mode) {
                return Err(format!(
                    "{key:?} is not one of enforce, warn, audit (or their -version)"
                ));
            }
            labels.insert(format!("{PREFIX}{key}"), value.to_owned());
        }
        validate(&labels).map_err(|(_, message)| message)?;
        Ok(Levels::of(&labels))
    }

    /// The levels a Namespace's `labels` set, each mode without a label
    /// taking the node's `defaults`.
    pub fn of_with(labels: &BTreeMap<String, String>, defaults: &Levels) -> Levels {
        let own = Levels::of(labels);
        Levels {
            enforce: own.enforce.or_else(|| defaults.enforce.clone()),
            warn: own.warn.or_else(|| defaults.warn.clone()),
            audit: own.audit.or_else(|| defaults.audit.clone()),
        }
    }

    /// The levels a Namespace's `labels` set (a label that does not read
    /// sets none: a stored Namespace was validated when it was applied).
    pub fn of(labels: &BTreeMap<String, String>) -> Levels {
        let read = |mode: &str| {
            let level = Level::parse(labels.get(&format!("{PREFIX}{mode}"))?)?;
            let version = labels.get(&format!("{PREFIX}{mode}-version"));
            Some(Versioned {
                level,
                version: version.cloned().unwrap_or_else(|| "latest".to_owned()),
            })
        };
        Levels {
            enforce: read("enforce"),
            warn: read("warn"),
            audit: read("audit"),
        }
    }

    /// What `pod` breaks, mode by mode: `Err` with the enforce level's
    /// refusal; otherwise the warn level's sentence and the audit level's,
    /// when they have one.
    pub fn check(&self, pod: &PodSpec) -> Result<Verdict, String> {
        if let Some(refusal) = self.refusal(pod) {
            return Err(refusal);
        }
        // What kube-apiserver says and notes of what it lets through.
        let would = |versioned: &Option<Versioned>| {
            broken(versioned.as_ref()?, pod).map(|b| format!("would violate {b}"))
        };
        Ok(Verdict {
            warning: would(&self.warn),
            audit: would(&self.audit),
        })
    }

    /// Why `pod` may not run under the `enforce` level, if it may not.
    pub fn refusal(&self, pod: &PodSpec) -> Option<String> {
        let broken = broken(self.enforce.as_ref()?, pod)?;
        Some(format!("violates {broken}"))
    }
}

/// `PodSecurity "baseline:latest": hostPath volumes (…)`: what `pod`
/// breaks of `versioned`, if anything.
fn broken(versioned: &Versioned, pod: &PodSpec) -> Option<String> {
    let broken = violations(pod, versioned.level);
    (!broken.is_empty()).then(|| {
        format!(
            "PodSecurity \"{}:{}\": {}",
            versioned.level.as_str(),
            versioned.version,
            broken.join(", ")
        )
    })
}

/// What a pod that may be applied breaks of the `warn` and `audit` levels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// `would violate PodSecurity "baseline:latest": …`, for a `Warning`.
    pub warning: Option<String>,
    /// The same of the `audit` level, for the audit log's annotation.
    pub audit: Option<String>,
}

/// The checks of `level` that `pod` fails, each as Kubernetes words it.
pub fn violations(pod: &PodSpec, level: Level) -> Vec<String> {
    let mut broken = Vec::new();
    if level < Level::Baseline {
        return broken;
    }
    let host: Vec<String> = (pod.volumes.iter())
        .filter(|v| v.host_path.is_some())
        .map(|v| format!("{:?}", v.name))
        .collect();
    if !host.is_empty() {
        broken.push(format!(
            "hostPath volumes ({} {})",
            plural("volume", host.len()),
            host.join(", ")
        ));
    }
    if level >= Level::Restricted && !host.is_empty() {
        // Of wasmjob's volume types only hostPath is off Kubernetes' list
        // (configMap, csi, downwardAPI, emptyDir, ephemeral,
        // persistentVolumeClaim, projected, secret).
        broken.push(format!(
            "restricted volume types ({} {} {} non-allowed volume type \"hostPath\")",
            plural("volume", host.len()),
            host.join(", "),
            if host.len() == 1 { "uses" } else { "use" }
        ));
    }
    broken
}

fn plural(word: &str, n: usize) -> String {
    match n {
        1 => word.to_owned(),
        _ => format!("{word}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{EmptyDirVolume, HostPathVolume, Volume};

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        (pairs.iter())
            .map(|(k, v)| (format!("{PREFIX}{k}"), (*v).to_owned()))
            .collect()
    }

    fn pod(host: &[&str]) -> PodSpec {
        let mut pod = PodSpec::default();
        for name in host {
            pod.volumes.push(Volume {
                name: (*name).to_owned(),
                host_path: Some(HostPathVolume {
                    path: "/var/data".into(),
                    kind: None,
                }),
                ..Volume::default()
            });
        }
        pod.volumes.push(Volume {
            name: "scratch".into(),
            empty_dir: Some(EmptyDirVolume::default()),
            ..Volume::default()
        });
        pod
    }

    #[test]
    fn baseline_refuses_host_paths_in_kubernetes_words() {
        let levels = Levels::of(&labels(&[("enforce", "baseline")]));
        assert_eq!(
            levels.check(&pod(&["data"])),
            Err(
                "violates PodSecurity \"baseline:latest\": hostPath volumes (volume \"data\")"
                    .to_owned()
            )
        );
        assert_eq!(
            levels.check(&pod(&["a", "b"])).unwrap_err(),
            "violates PodSecurity \"baseline:latest\": hostPath volumes (volumes \"a\", \"b\")"
        );
        // An emptyDir, a ConfigMap, a claim: all a baseline pod may have.
        assert_eq!(levels.check(&pod(&[])), Ok(Verdict::default()));
    }

    #[test]
    fn restricted_also_names_the_volume_type_and_the_version_given() {
        let levels = Levels::of(&labels(&[
            ("enforce", "restricted"),
            ("enforce-version", "v1.32"),
        ]));
        assert_eq!(
            levels.check(&pod(&["data"])).unwrap_err(),
            "violates PodSecurity \"restricted:v1.32\": hostPath volumes (volume \"data\"), \
             restricted volume types (volume \"data\" uses non-allowed volume type \"hostPath\")"
        );
    }

    #[test]
    fn warn_and_audit_say_what_enforce_would_refuse_and_let_it_through() {
        let levels = Levels::of(&labels(&[("warn", "baseline"), ("audit", "restricted")]));
        let verdict = levels.check(&pod(&["data"])).unwrap();
        assert_eq!(
            verdict.warning.as_deref(),
            Some(
                "would violate PodSecurity \"baseline:latest\": hostPath volumes (volume \"data\")"
            )
        );
        assert!(verdict.audit.unwrap().starts_with(
            "would violate PodSecurity \"restricted:latest\": hostPath volumes (volume \"data\"), restricted"
        ));
        // Privileged, or no label at all: anything goes, nothing said.
        for none in [labels(&[("enforce", "privileged")]), BTreeMap::new()] {
            let levels = Levels::of(&none);
            assert_eq!(levels.check(&pod(&["data"])), Ok(Verdict::default()));
        }
    }

    #[test]
    fn node_defaults_hold_where_a_namespace_sets_no_level_of_its_own() {
        let defaults = Levels::defaults("enforce=baseline, warn=restricted").unwrap();
        let unlabelled = Levels::of_with(&BTreeMap::new(), &defaults);
        assert!(unlabelled.check(&pod(&["data"])).is_err());
        // A namespace labelled privileged is let through, and still warned.
        let open = Levels::of_with(&labels(&[("enforce", "privileged")]), &defaults);
        let verdict = open.check(&pod(&["data"])).unwrap();
        assert!(verdict.warning.unwrap().contains("restricted:latest"));
        assert_eq!(
            Levels::defaults("enforce=strict").unwrap_err(),
            "Invalid value: \"strict\": must be one of privileged, baseline, restricted"
        );
        assert!(
            Levels::defaults("enforce")
                .unwrap_err()
                .contains("MODE=LEVEL")
        );
        assert!(
            Levels::defaults("deny=baseline")
                .unwrap_err()
                .contains("not one of")
        );
        assert_eq!(Levels::defaults("").unwrap(), Levels::default());
    }

    #[test]
    fn a_level_or_version_that_is_not_one_is_the_labels_error() {
        assert_eq!(
            validate(&labels(&[("enforce", "strict")])),
            Err((
                "metadata.labels[pod-security.kubernetes.io/enforce]".to_owned(),
                "Invalid value: \"strict\": must be one of privileged, baseline, restricted"
                    .to_owned()
            ))
        );
        assert!(validate(&labels(&[("warn-version", "1.32")])).is_err());
        assert!(validate(&labels(&[("audit-version", "v1.")])).is_err());
        let good = labels(&[
            ("enforce", "restricted"),
            ("enforce-version", "latest"),
            ("warn-version", "v1.29"),
        ]);
        assert_eq!(validate(&good), Ok(()));
        // Other labels are not Pod Security's.
        let mut other = BTreeMap::new();
        other.insert("tier".to_owned(), "strict".to_owned());
        assert_eq!(validate(&other), Ok(()));
    }
}
