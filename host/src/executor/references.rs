//! What a template takes from outside itself when an attempt starts: keys
//! of ConfigMaps and Secrets (`env[].valueFrom`, `envFrom`, `configMap`,
//! `secret` and `projected` volumes) and the instance's own fields and
//! limits (`fieldRef`, `resourceFieldRef`, `downwardAPI`). They are read
//! at every attempt, so an attempt after an update sees the new values.
//!
//! A reference that cannot be met — a ConfigMap, Secret or key that does
//! not exist and is not `optional` — is a [`Missing`]: the attempt waits
//! (see `runner::launcher`) with Kubernetes' reason, and starts once the
//! object is applied.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::manifest::downward::{self, PodFacts};
use crate::manifest::network::NetworkPolicySpec;
use crate::manifest::{
    Config, ConfigMapVolume, Container, DownwardApiVolume, KeyToPath, Kind, PodSpec, Volume,
};

/// Where the ConfigMaps and Secrets of this node are read from (values
/// unsealed).
pub trait ConfigSource: Send + Sync {
    /// The live object of this kind, namespace and name, if any.
    fn config(&self, kind: Kind, namespace: &str, name: &str) -> Result<Option<Config>, String>;

    /// The specs of the live NetworkPolicies of `namespace`.
    fn network_policies(&self, _namespace: &str) -> Result<Arc<Vec<NetworkPolicySpec>>, String> {
        Ok(Arc::default())
    }
}

/// Why an attempt cannot start yet, as the kubelet says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// `CreateContainerConfigError` (an environment reference) or
    /// `ContainerCreating` (a volume's).
    pub reason: &'static str,
    /// The event's reason: `Failed` or `FailedMount`.
    pub event: &'static str,
    /// `configmap "settings" not found`, …
    pub message: String,
}

/// A file of a volume made from references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeFile {
    /// Relative to the volume.
    pub path: String,
    /// The content.
    pub bytes: Vec<u8>,
    /// The file's mode.
    pub mode: u32,
}

/// What the references of one attempt resolved to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// `envFrom`'s variables, in order (before `env`).
    pub env_from: Vec<(String, String)>,
    /// `env[i]`'s value when it has a `valueFrom`: `None` for an
    /// optional reference that is not there (the variable is left out).
    pub env_values: BTreeMap<usize, Option<String>>,
    /// The files of each volume made from references, by volume name.
    pub files: BTreeMap<String, Vec<VolumeFile>>,
}

/// The mode of a volume's files when none is given (Kubernetes' 0644).
const DEFAULT_MODE: u32 = 0o644;

/// Whether a template refers to anything outside itself (most do not, and
/// their attempts skip [`resolve`]).
pub fn refers_outside(pod: &PodSpec) -> bool {
    pod.all_containers().any(|container| {
        !container.env_from.is_empty() || container.env.iter().any(|v| v.value_from.is_some())
    }) || pod.volumes.iter().any(is_projected)
}

/// A volume whose files are made from references.
pub fn is_projected(volume: &Volume) -> bool {
    volume.config_map.is_some()
        || volume.secret.is_some()
        || volume.projected.is_some()
        || volume.downward_api.is_some()
}

/// What the node gives an instance that sets no limit, for
/// `resourceFieldRef`.
#[derive(Debug, Clone, Copy)]
pub struct NodeResources {
    /// Bytes of memory an instance may use without a limit.
    pub memory: u64,
    /// The node's cores.
    pub cores: usize,
}

/// Resolves every reference of `container`, one of `pod`'s, for one
/// attempt.
pub fn resolve(
    pod: &PodSpec,
    container: &Container,
    facts: &PodFacts<'_>,
    source: &dyn ConfigSource,
    node: NodeResources,
) -> Result<Resolved, Missing> {
    let mut lookup = Lookup {
        source,
        namespace: facts.namespace,
        seen: BTreeMap::new(),
    };
    let mut resolved = Resolved::default();
    let env_error = |message| Missing {
        reason: "CreateContainerConfigError",
        event: "Failed",
        message,
    };
    for from in &container.env_from {
        let (kind, selector) = match (&from.config_map_ref, &from.secret_ref) {
            (Some(c), _) => (Kind::ConfigMap, c),
            (None, Some(s)) => (Kind::Secret, s),
            (None, None) => continue,
        };
        let optional = selector.optional.unwrap_or(false);
        let Some(config) = lookup.get(kind, &selector.name).map_err(env_error)? else {
            if optional {
                continue;
            }
            return Err(env_error(not_found(kind, &selector.name)));
        };
        let prefix = from.prefix.as_deref().unwrap_or("");
        for (key, value) in &config.data {
            let name = format!("{prefix}{key}");
            // As the kubelet: a key that cannot be a variable's name is
            // skipped, not an error.
            if name.contains('=') {
                continue;
            }
            let value = String::from_utf8_lossy(value).into_owned();
            resolved.env_from.push((name, value));
        }
    }
    for (i, var) in container.env.iter().enumerate() {
        let Some(from) = &var.value_from else {
            continue;
        };
        let value = if let Some(field) = &from.field_ref {
            Some(downward::field_value(&field.field_path, facts))
        } else if let Some(resource) = &from.resource_field_ref {
            Some(resource_text(container, resource, node))
        } else {
            let (kind, selector) = match (&from.config_map_key_ref, &from.secret_key_ref) {
                (Some(c), _) => (Kind::ConfigMap, c),
                (None, Some(s)) => (Kind::Secret, s),
                (None, None) => continue,
            };
            let optional = selector.optional.unwrap_or(false);
            match lookup.get(kind, &selector.name).map_err(env_error)? {
                None if optional => None,
                None => return Err(env_error(not_found(kind, &selector.name))),
                Some(config) => match config.data.get(&selector.key) {
                    Some(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
                    None if optional => None,
                    None => {
                        return Err(env_error(format!(
                            "couldn't find key {} in {} {}/{}",
                            selector.key,
                            kind.as_str(),
                            facts.namespace,
                            selector.name
                        )));
                    }
                },
            }
        };
        resolved.env_values.insert(i, value);
    }
    for mount in &container.volume_mounts {
        let Some(volume) = pod.volumes.iter().find(|v| v.name == mount.name) else {
            continue;
        };
        if !is_projected(volume) || resolved.files.contains_key(&volume.name) {
            continue;
        }
        let mount_error = |message: String| Missing {
            reason: "ContainerCreating",
            event: "FailedMount",
            message: format!(
                "MountVolume.SetUp failed for volume {:?} : {message}",
                volume.name
            ),
        };
        let files =
            volume_files(volume, &mut lookup, facts, container, node).map_err(mount_error)?;
        resolved.files.insert(volume.name.clone(), files);
    }
    Ok(resolved)
}

fn resource_text(
    container: &Container,
    resource: &crate::manifest::ResourceFieldSelector,
    node: NodeResources,
) -> String {
    downward::resource_value(
        container,
        &resource.resource,
        resource.divisor.as_deref(),
        node.memory,
        node.cores,
    )
}

fn not_found(kind: Kind, name: &str) -> String {
    format!("{} {name:?} not found", kind.as_str().to_ascii_lowercase())
}

/// Reads each object once per attempt, however often it is referred to.
struct Lookup<'a> {
    source: &'a dyn ConfigSource,
    namespace: &'a str,
    seen: BTreeMap<(Kind, String), Option<Arc<Config>>>,
}

impl Lookup<'_> {
    fn get(&mut self, kind: Kind, name: &str) -> Result<Option<Arc<Config>>, String> {
        let key = (kind, name.to_owned());
        if let Some(found) = self.seen.get(&key) {
            return Ok(found.clone());
        }
        let found = self
            .source
            .config(kind, self.namespace, name)?
            .map(Arc::new);
        self.seen.insert(key, found.clone());
        Ok(found)
    }
}

/// The files of a `configMap`, `secret`, `projected` or `downwardAPI`
/// volume; later files of one path replace earlier ones.
fn volume_files(
    volume: &Volume,
    lookup: &mut Lookup<'_>,
    facts: &PodFacts<'_>,
    container: &Container,
    node: NodeResources,
) -> Result<Vec<VolumeFile>, String> {
    let mut files = Vec::new();
    let mode = |m: Option<i32>| m.map_or(DEFAULT_MODE, |m| m as u32);
    if let Some(config) = &volume.config_map {
        keys_files(
            Kind::ConfigMap,
            config,
            mode(config.default_mode),
            lookup,
            &mut files,
        )?;
    }
    if let Some(secret) = &volume.secret {
        let as_config = ConfigMapVolume {
            name: secret.secret_name.clone(),
            items: secret.items.clone(),
            default_mode: secret.default_mode,
            optional: secret.optional,
        };
        let default = mode(secret.default_mode);
        keys_files(Kind::Secret, &as_config, default, lookup, &mut files)?;
    }
    if let Some(downward) = &volume.downward_api {
        let default = mode(downward.default_mode);
        downward_files(downward, default, facts, container, node, &mut files);
    }
    if let Some(projected) = &volume.projected {
        let default = mode(projected.default_mode);
        for source in &projected.sources {
            if let Some(config) = &source.config_map {
                keys_files(Kind::ConfigMap, config, default, lookup, &mut files)?;
            }
            if let Some(secret) = &source.secret {
                keys_files(Kind::Secret, secret, default, lookup, &mut files)?;
            }
            if let Some(downward) = &source.downward_api {
                downward_files(downward, default, facts, container, node, &mut files);
            }
        }
    }
    // A later file of the same path wins, as in a projected volume.
    let mut by_path: BTreeMap<String, VolumeFile> = BTreeMap::new();
    for file in files {
        by_path.insert(file.path.clone(), file);
    }
    Ok(by_path.into_values().collect())
}

fn keys_files(
    kind: Kind,
    volume: &ConfigMapVolume,
    default_mode: u32,
    lookup: &mut Lookup<'_>,
    files: &mut Vec<VolumeFile>,
) -> Result<(), String> {
    let optional = volume.optional.unwrap_or(false);
    let Some(config) = lookup.get(kind, &volume.name)? else {
        return if optional {
            Ok(())
        } else {
            Err(not_found(kind, &volume.name))
        };
    };
    if volume.items.is_empty() {
        for (key, bytes) in &config.data {
            files.push(VolumeFile {
                path: key.clone(),
                bytes: bytes.clone(),
                mode: default_mode,
            });
        }
        return Ok(());
    }
    for KeyToPath { key, path, mode } in &volume.items {
        match config.data.get(key) {
            Some(bytes) => files.push(VolumeFile {
                path: path.clone(),
                bytes: bytes.clone(),
                mode: mode.map_or(default_mode, |m| m as u32),
            }),
            None if optional => {}
            None => {
                return Err(
                    format!("configmap references non-existent config key: {key}")
                        .replace("configmap", &kind.as_str().to_ascii_lowercase()),
                );
            }
        }
    }
    Ok(())
}

fn downward_files(
    volume: &DownwardApiVolume,
    default_mode: u32,
    facts: &PodFacts<'_>,
    container: &Container,
    node: NodeResources,
    files: &mut Vec<VolumeFile>,
) {
    for item in &volume.items {
        let text = match (&item.field_ref, &item.resource_field_ref) {
            (Some(field), _) => downward::field_value(&field.field_path, facts),
            (None, Some(resource)) => resource_text(container, resource, node),
            (None, None) => continue,
        };
        files.push(VolumeFile {
            path: item.path.clone(),
            bytes: text.into_bytes(),
            mode: item.mode.map_or(default_mode, |m| m as u32),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Object, load_str};
    use std::sync::Mutex;

    /// Objects by (kind, name), in namespace `default`.
    #[derive(Default)]
    struct Fixed(Mutex<Vec<Config>>);

    impl ConfigSource for Fixed {
        fn config(&self, kind: Kind, ns: &str, name: &str) -> Result<Option<Config>, String> {
            let all = self.0.lock().unwrap();
            let found = all
                .iter()
                .find(|c| c.kind == kind && c.metadata.namespace == ns && c.metadata.name == name);
            Ok(found.cloned())
        }
    }

    fn objects(text: &str) -> Vec<Object> {
        let docs = load_str(text, "t.yaml", std::path::Path::new("/")).unwrap();
        docs.into_iter().map(|d| d.object).collect()
    }

    fn pod(spec: &str) -> PodSpec {
        let text = format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: j}}\nspec:\n  template:\n    spec:\n{spec}"
        );
        match objects(&text).remove(0) {
            Object::Job(job) => job.spec.template.spec,
            _ => unreachable!(),
        }
    }

    fn source(text: &str) -> Fixed {
        let configs = objects(text)
            .into_iter()
            .map(|o| match o {
                Object::Config(c) => c,
                _ => unreachable!(),
            })
            .collect();
        Fixed(Mutex::new(configs))
    }

    const NODE: NodeResources = NodeResources {
        memory: 64 << 20,
        cores: 2,
    };

    fn run(pod: &PodSpec, source: &Fixed) -> Result<Resolved, Missing> {
        let labels = [("app".to_owned(), "demo".to_owned())].into();
        let annotations = BTreeMap::new();
        let facts = PodFacts {
            name: "j-abcde",
            namespace: "default",
            uid: "u-1",
            labels: &labels,
            annotations: &annotations,
            node_name: "n1",
        };
        resolve(pod, &pod.containers[0], &facts, source, NODE)
    }

    const CONFIGS: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n\
        data: {mode: fast, level: '3'}\n---\napiVersion: v1\nkind: Secret\n\
        metadata: {name: db}\nstringData: {password: s3cr3t}\n";

    #[test]
    fn env_values_come_from_keys_fields_and_limits() {
        let pod = pod(
            "      restartPolicy: Never\n      containers:\n      - name: c\n        image: m.wasm\n        \
            envFrom:\n        - {prefix: CFG_, configMapRef: {name: settings}}\n        \
            env:\n        - {name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}\n        \
            - {name: PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}\n        \
            - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}\n        \
            - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}\n        \
            - {name: GONE, valueFrom: {configMapKeyRef: {name: none, key: k, optional: true}}}\n",
        );
        let resolved = run(&pod, &source(CONFIGS)).unwrap();
        assert_eq!(
            resolved.env_from,
            vec![
                ("CFG_level".to_owned(), "3".to_owned()),
                ("CFG_mode".to_owned(), "fast".to_owned())
            ]
        );
        let values: Vec<_> = resolved.env_values.values().cloned().collect();
        assert_eq!(
            values,
            vec![
                Some("fast".to_owned()),
                Some("s3cr3t".to_owned()),
                Some("n1".to_owned()),
                Some("64".to_owned()),
                None
            ]
        );
    }

    #[test]
    fn a_missing_object_or_key_is_kubernetes_config_error() {
        let pod_of = |env: &str| {
            pod(&format!(
                "      restartPolicy: Never\n      containers:\n      - name: c\n        image: m.wasm\n        env:\n        - {env}\n"
            ))
        };
        let missing = run(
            &pod_of("{name: A, valueFrom: {configMapKeyRef: {name: absent, key: k}}}"),
            &source(CONFIGS),
        )
        .unwrap_err();
        assert_eq!(missing.reason, "CreateContainerConfigError");
        assert_eq!(missing.message, "configmap \"absent\" not found");
        let missing = run(
            &pod_of("{name: A, valueFrom: {secretKeyRef: {name: db, key: user}}}"),
            &source(CONFIGS),
        )
        .unwrap_err();
        assert_eq!(
            missing.message,
            "couldn't find key user in Secret default/db"
        );
        assert!(!missing.message.contains("s3cr3t"));
    }

    #[test]
    fn volumes_hold_keys_items_projections_and_fields_as_files() {
        let pod = pod("      restartPolicy: Never\n      volumes:\n      \
            - {name: all, configMap: {name: settings}}\n      \
            - {name: some, secret: {secretName: db, defaultMode: 0400, items: [{key: password, path: creds/pw}]}}\n      \
            - name: mixed\n        projected:\n          sources:\n          - configMap: {name: settings, items: [{key: mode, path: mode.txt}]}\n          \
            - downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}\n      \
            - {name: gone, configMap: {name: none}}\n      \
            containers:\n      - name: c\n        image: m.wasm\n        volumeMounts:\n        \
            - {name: all, mountPath: /all}\n        - {name: some, mountPath: /some}\n        - {name: mixed, mountPath: /mixed}\n");
        let resolved = run(&pod, &source(CONFIGS)).unwrap();
        let paths = |v: &str| -> Vec<(String, u32)> {
            resolved.files[v]
                .iter()
                .map(|f| (f.path.clone(), f.mode))
                .collect()
        };
        assert_eq!(
            paths("all"),
            vec![("level".into(), 0o644), ("mode".into(), 0o644)]
        );
        assert_eq!(paths("some"), vec![("creds/pw".into(), 0o400)]);
        assert_eq!(
            paths("mixed"),
            vec![("labels".into(), 0o644), ("mode.txt".into(), 0o644)]
        );
        assert_eq!(resolved.files["mixed"][0].bytes, b"app=\"demo\"\n");
        // The unmounted volume of a missing ConfigMap is not read.
        assert!(!resolved.files.contains_key("gone"));
        let mut with_gone = pod.clone();
        with_gone.containers[0]
            .volume_mounts
            .push(crate::manifest::VolumeMount {
                name: "gone".into(),
                mount_path: "/gone".into(),
                read_only: false,
            });
        let missing = run(&with_gone, &source(CONFIGS)).unwrap_err();
        assert_eq!(missing.reason, "ContainerCreating");
        assert_eq!(missing.event, "FailedMount");
        assert_eq!(
            missing.message,
            "MountVolume.SetUp failed for volume \"gone\" : configmap \"none\" not found"
        );
        assert!(!refers_outside(&pod_without_refs()));
        assert!(refers_outside(&pod));
    }

    fn pod_without_refs() -> PodSpec {
        pod(
            "      restartPolicy: Never\n      containers:\n      - {name: c, image: m.wasm, env: [{name: A, value: b}]}\n",
        )
    }
}
