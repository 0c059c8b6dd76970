//! The node's Pod Security admission settings — kube-apiserver's
//! `PodSecurityConfiguration`: the levels of a namespace that sets none of
//! its own (`defaults`) and the namespaces no level holds
//! (`exemptions.namespaces`). Read from the same `AdmissionConfiguration`
//! file kube-apiserver takes (`serve --admission-control-config-file`),
//! the plugin's configuration inline or in a file of its own (`path`,
//! relative to the first), or the defaults alone from `serve
//! --pod-security-defaults`.
//!
//! Two exemptions Kubernetes has mean nothing here, and a file naming them
//! is taken with a note rather than refused, so a cluster's file works
//! unchanged: `runtimeClasses` (wasmjob has one runtime and ignores
//! `runtimeClassName`), and `usernames` — Kubernetes exempts the pods an
//! exempt user creates, not those a controller creates for the user's
//! Job, and every instance on a node is created by its Job, CronJob and
//! DaemonSet controllers, so a username exempts nothing (an exempt user's
//! workload that breaks the level is refused at apply like anyone's,
//! where Kubernetes would admit it and refuse each of its pods). Other
//! plugins' configurations are skipped with a note.
//!
//! Pure: `serve` reads the file and hands its text here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::pod_security::Levels;

/// The apiVersions of `AdmissionConfiguration` kube-apiserver reads.
const ADMISSION_VERSIONS: [&str; 2] = ["apiserver.config.k8s.io/v1", "apiserver.k8s.io/v1alpha1"];

/// The apiVersions of `PodSecurityConfiguration`.
const POD_SECURITY_VERSIONS: [&str; 3] = [
    "pod-security.admission.config.k8s.io/v1",
    "pod-security.admission.config.k8s.io/v1beta1",
    "pod-security.admission.config.k8s.io/v1alpha1",
];

/// The node's Pod Security admission settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSecurityAdmission {
    /// The levels of a namespace that sets none of its own, mode by mode.
    pub defaults: Levels,
    /// Namespaces held by no level, whatever their labels say.
    pub exempt_namespaces: BTreeSet<String>,
}

impl PodSecurityAdmission {
    /// Only defaults (`serve --pod-security-defaults`).
    pub fn with_defaults(defaults: Levels) -> Self {
        PodSecurityAdmission {
            defaults,
            exempt_namespaces: BTreeSet::new(),
        }
    }

    /// The levels that hold `namespace`, whose labels are `labels`: none
    /// for an exempt namespace; otherwise its own labels, each mode
    /// without one taking the node's default.
    pub fn levels_of(&self, namespace: &str, labels: &BTreeMap<String, String>) -> Levels {
        if self.is_exempt(namespace) {
            return Levels::default();
        }
        Levels::of_with(labels, &self.defaults)
    }

    /// Whether `namespace` is exempt.
    pub fn is_exempt(&self, namespace: &str) -> bool {
        self.exempt_namespaces.contains(namespace)
    }
}

/// A configuration file read: the settings, and notes on what in it
/// wasmjob takes without applying (printed when `serve` starts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Read {
    /// The settings.
    pub admission: PodSecurityAdmission,
    /// What was taken without effect, one sentence each.
    pub notes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AdmissionConfiguration {
    api_version: String,
    kind: String,
    #[serde(default)]
    plugins: Vec<Plugin>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Plugin {
    name: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    configuration: Option<serde_yaml_ng::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PodSecurityConfiguration {
    api_version: String,
    kind: String,
    #[serde(default)]
    defaults: BTreeMap<String, String>,
    #[serde(default)]
    exemptions: Exemptions,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Exemptions {
    #[serde(default)]
    usernames: Vec<String>,
    #[serde(default)]
    runtime_classes: Vec<String>,
    #[serde(default)]
    namespaces: Vec<String>,
}

/// Reads an `AdmissionConfiguration` file's `text`; `read_plugin_file`
/// gives the text of a plugin's `path` (relative to the file's directory).
/// An error names the field and what is wrong with it.
pub fn read(
    text: &str,
    read_plugin_file: &dyn Fn(&Path) -> Result<String, String>,
) -> Result<Read, String> {
    let config: AdmissionConfiguration = parse(text)?;
    if !ADMISSION_VERSIONS.contains(&config.api_version.as_str()) {
        return Err(format!(
            "apiVersion: expected {}, got {:?}",
            ADMISSION_VERSIONS[0], config.api_version
        ));
    }
    if config.kind != "AdmissionConfiguration" {
        return Err(format!(
            "kind: expected AdmissionConfiguration, got {:?}",
            config.kind
        ));
    }
    let mut read = Read::default();
    let mut found = false;
    for (i, plugin) in config.plugins.iter().enumerate() {
        if plugin.name != "PodSecurity" {
            read.notes.push(format!(
                "plugins[{i}]: the {} admission plugin's configuration is not read (wasmjob \
                 configures PodSecurity only)",
                plugin.name
            ));
            continue;
        }
        if found {
            return Err(format!("plugins[{i}]: PodSecurity is configured twice"));
        }
        found = true;
        let at = format!("plugins[{i}]");
        // Where a problem in the plugin's configuration is said to be.
        let (pod_security, within): (PodSecurityConfiguration, String) =
            match (&plugin.configuration, &plugin.path) {
                (Some(value), None) => {
                    let within = format!("{at}.configuration.");
                    let config = serde_path_to_error::deserialize(value.clone())
                        .map_err(|e| format!("{within}{}: {}", e.path(), e.inner()))?;
                    (config, within)
                }
                (None, Some(path)) => {
                    let within = format!("{at}.path: {path}: ");
                    let text =
                        read_plugin_file(Path::new(path)).map_err(|e| format!("{within}{e}"))?;
                    (parse(&text).map_err(|e| format!("{within}{e}"))?, within)
                }
                (Some(_), Some(_)) => {
                    return Err(format!("{at}: give configuration or path, not both"));
                }
                (None, None) => return Err(format!("{at}: configuration or path is required")),
            };
        read.admission = of(pod_security, &mut read.notes).map_err(|e| format!("{within}{e}"))?;
    }
    if !found {
        read.notes.push(
            "no PodSecurity plugin is configured: namespaces that set no level are privileged"
                .to_owned(),
        );
    }
    Ok(read)
}

/// YAML (or JSON) into `T`, the path of the first problem named.
fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        format!("{path}: {}", e.into_inner())
    })
}

/// The settings a `PodSecurityConfiguration` gives.
fn of(
    config: PodSecurityConfiguration,
    notes: &mut Vec<String>,
) -> Result<PodSecurityAdmission, String> {
    if !POD_SECURITY_VERSIONS.contains(&config.api_version.as_str()) {
        return Err(format!(
            "apiVersion: expected {}, got {:?}",
            POD_SECURITY_VERSIONS[0], config.api_version
        ));
    }
    if config.kind != "PodSecurityConfiguration" {
        return Err(format!(
            "kind: expected PodSecurityConfiguration, got {:?}",
            config.kind
        ));
    }
    let pairs: Vec<String> = (config.defaults.iter())
        .map(|(mode, level)| format!("{mode}={level}"))
        .collect();
    let defaults = Levels::defaults(&pairs.join(",")).map_err(|e| format!("defaults: {e}"))?;
    let exemptions = config.exemptions;
    for (i, namespace) in exemptions.namespaces.iter().enumerate() {
        crate::manifest::validate::dns_label(namespace)
            .map_err(|e| format!("exemptions.namespaces[{i}]: {e}"))?;
    }
    if !exemptions.usernames.is_empty() {
        notes.push(format!(
            "exemptions.usernames ({}): exempts nothing here — instances are created by the \
             node's controllers, never by a user's request, as Kubernetes exempts a user's own \
             pods and not those a controller creates for the user",
            exemptions.usernames.join(", ")
        ));
    }
    if !exemptions.runtime_classes.is_empty() {
        notes.push(format!(
            "exemptions.runtimeClasses ({}): exempts nothing here — wasmjob has one runtime and \
             ignores runtimeClassName",
            exemptions.runtime_classes.join(", ")
        ));
    }
    Ok(PodSecurityAdmission {
        defaults,
        exempt_namespaces: exemptions.namespaces.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::pod_security::Level;

    fn no_files(path: &Path) -> Result<String, String> {
        Err(format!("no file {}", path.display()))
    }

    const KUBERNETES_EXAMPLE: &str = r#"
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: "baseline"
      enforce-version: "latest"
      audit: "restricted"
      audit-version: "latest"
      warn: "restricted"
      warn-version: "latest"
    exemptions:
      usernames: []
      runtimeClasses: []
      namespaces: [kube-system]
"#;

    #[test]
    fn kubernetes_documented_configuration_sets_defaults_and_exempt_namespaces() {
        let read = read(KUBERNETES_EXAMPLE, &no_files).unwrap();
        assert!(read.notes.is_empty(), "{:?}", read.notes);
        let admission = read.admission;
        assert!(admission.is_exempt("kube-system") && !admission.is_exempt("team"));
        let level = |v: &Option<crate::access::pod_security::Versioned>| v.as_ref().unwrap().level;
        assert_eq!(level(&admission.defaults.enforce), Level::Baseline);
        assert_eq!(level(&admission.defaults.warn), Level::Restricted);
    }

    #[test]
    fn an_exempt_namespace_is_held_by_no_level_whatever_its_labels() {
        let admission = read(KUBERNETES_EXAMPLE, &no_files).unwrap().admission;
        let labels = BTreeMap::from([(
            "pod-security.kubernetes.io/enforce".to_owned(),
            "restricted".to_owned(),
        )]);
        assert_eq!(
            admission.levels_of("kube-system", &labels),
            Levels::default()
        );
        let team = admission.levels_of("team", &labels);
        assert_eq!(
            team.enforce.unwrap().level,
            Level::Restricted,
            "own label wins"
        );
        assert_eq!(team.audit.unwrap().level, Level::Restricted, "default");
    }

    #[test]
    fn a_plugin_configuration_may_be_a_file_of_its_own() {
        let text = "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n\
                    plugins:\n- name: PodSecurity\n  path: pod-security.yaml\n";
        let files = |path: &Path| {
            assert_eq!(path, Path::new("pod-security.yaml"));
            Ok::<String, String>(
                "apiVersion: pod-security.admission.config.k8s.io/v1\n\
                 kind: PodSecurityConfiguration\ndefaults: {enforce: restricted}\n"
                    .to_owned(),
            )
        };
        let admission = read(text, &files).unwrap().admission;
        assert_eq!(admission.defaults.enforce.unwrap().level, Level::Restricted);
        let missing = read(text, &no_files).unwrap_err();
        assert_eq!(
            missing,
            "plugins[0].path: pod-security.yaml: no file pod-security.yaml"
        );
    }

    #[test]
    fn what_means_nothing_here_is_taken_with_a_note() {
        let text = KUBERNETES_EXAMPLE
            .replace("usernames: []", "usernames: [ci-bot]")
            .replace("runtimeClasses: []", "runtimeClasses: [gvisor]")
            .replace(
                "plugins:\n",
                "plugins:\n- name: EventRateLimit\n  path: limits.yaml\n",
            );
        let read = read(&text, &no_files).unwrap();
        assert_eq!(read.notes.len(), 3, "{:?}", read.notes);
        assert!(read.notes[0].contains("EventRateLimit"));
        assert!(read.notes[1].contains("ci-bot") && read.notes[1].contains("controllers"));
        assert!(read.notes[2].contains("gvisor") && read.notes[2].contains("runtimeClassName"));
        let none = "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n";
        let read = super::read(none, &no_files).unwrap();
        assert_eq!(read.admission, PodSecurityAdmission::default());
        assert!(read.notes[0].contains("no PodSecurity plugin"));
    }

    #[test]
    fn a_bad_file_names_the_field_and_what_is_wrong() {
        let bad = |from: &str, to: &str| read(&KUBERNETES_EXAMPLE.replace(from, to), &no_files);
        assert_eq!(
            bad("enforce: \"baseline\"", "enforce: \"strict\"").unwrap_err(),
            "plugins[0].configuration.defaults: Invalid value: \"strict\": must be one of \
             privileged, baseline, restricted"
        );
        assert!(
            bad("[kube-system]", "[Kube_System]").unwrap_err().starts_with(
                "plugins[0].configuration.exemptions.namespaces[0]: invalid name \"Kube_System\": \
                 must be a DNS-1123 label"
            )
        );
        let unknown = bad("namespaces:", "namespace:").unwrap_err();
        assert!(
            unknown.starts_with("plugins[0].configuration.exemptions")
                && unknown.contains("unknown field `namespace`"),
            "{unknown}"
        );
        assert_eq!(
            bad("kind: AdmissionConfiguration", "kind: Policy").unwrap_err(),
            "kind: expected AdmissionConfiguration, got \"Policy\""
        );
        assert_eq!(
            bad("pod-security.admission.config.k8s.io/v1", "v1").unwrap_err(),
            "plugins[0].configuration.apiVersion: expected \
             pod-security.admission.config.k8s.io/v1, got \"v1\""
        );
        assert!(read("{", &no_files).unwrap_err().starts_with("not YAML"));
    }
}
