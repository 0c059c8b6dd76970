//! The pod template: what one instance runs (its `initContainers` in order,
//! native sidecars beside the rest, then its `containers` together, each a
//! Wasm module in a sandbox of its own sharing the instance's volumes, which
//! `volume` defines), where its variables come from, its restart policy,
//! placement and limits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::placement::{Affinity, Placement};
use super::taints::Toleration;
use super::validate::required;
use super::validate::{self, Check};
use super::{
    EnvFromSource, EnvVar, FieldError, Resources, Volume, VolumeMount, parse_memory_quantity,
};

/// `spec.template`: the metadata and spec every instance is made from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodTemplateSpec {
    /// Labels copied onto every instance.
    #[serde(default)]
    pub metadata: TemplateMeta,
    /// The instance's module and sandbox.
    #[serde(default)]
    pub spec: PodSpec,
}

/// Template metadata: labels and annotations; a `name` is accepted and ignored,
/// since instance names are generated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateMeta {
    /// Ignored: instance names are generated from the owner's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Copied onto every instance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Copied onto every instance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `spec.template.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSpec {
    /// Run in order before `containers`, each to its end (a failing one
    /// fails the attempt); one with `restartPolicy: Always` is a native
    /// sidecar: started in its turn, it runs beside what follows and is
    /// stopped when the `containers` have ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    /// At least one: the modules the instance runs, together; it succeeds
    /// when all succeed.
    #[serde(default)]
    pub containers: Vec<Container>,
    /// What happens when an instance fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Host directories and scratch directories the module may see.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Wall-clock limit of one instance, in seconds; past it the instance is
    /// stopped and fails with reason `DeadlineExceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    /// Labels a node must have to run the instance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// `nodeAffinity` with required `nodeSelectorTerms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// The node taints the instance tolerates (see `taints`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// The PriorityClass whose value orders this template's waiting
    /// instances on a node that has room for fewer than wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// How long a stopped instance (its Job deleted, suspended or ended,
    /// its node tainted) may run on before it is ended; at once when
    /// absent. A Wasm guest gets no SIGTERM: this is the time it has to
    /// finish on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// `kubernetes.io/dockerconfigjson` Secrets of the namespace whose
    /// credentials pull the registry images, before the user's Docker
    /// config.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<SecretName>,
}

/// A Secret named by `imagePullSecrets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretName {
    /// The Secret, in the object's namespace.
    #[serde(default)]
    pub name: String,
}

/// `restartPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    /// Restart whatever happens (DaemonSets).
    Always,
    /// Re-run the same instance in place when it fails.
    OnFailure,
    /// Never re-run an instance; a Job creates a new one instead.
    Never,
}

impl RestartPolicy {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Always => "Always",
            RestartPolicy::OnFailure => "OnFailure",
            RestartPolicy::Never => "Never",
        }
    }
}

/// A container: a Wasm module and how to call it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Container {
    /// A DNS-1123 label; also argv\[0\] when `command` is empty.
    #[serde(default)]
    pub name: String,
    /// The module: a path relative to the manifest, `file://…`,
    /// `sha256:<hex>` of a stored module, or a registry's image reference.
    #[serde(default)]
    pub image: String,
    /// For a registry image: `Always`, `IfNotPresent` or `Never` (see
    /// [`crate::oci::PullPolicy`]); Kubernetes' default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<crate::oci::PullPolicy>,
    /// Init containers only: `Always` makes a native sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// argv, before `args`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// argv, after `command`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The only environment the module sees, besides the injected variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Every key of a ConfigMap or Secret as a variable (before `env`,
    /// which overrides them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Memory limit (and accepted, unenforced, CPU figures).
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    /// Where volumes appear inside the sandbox.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// The instance's working directory, an absolute path. WASI has no
    /// initial working directory; the sandbox exports it as `PWD`, where
    /// Go's wasip1 runtime and many guests take it from (a Rust or C guest
    /// resolves relative paths from `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

impl PodTemplateSpec {
    /// Checks the template. `allowed` lists the restart policies of the owning
    /// kind and `default` fills a missing one.
    pub fn normalize(
        &mut self,
        path: &str,
        allowed: &[RestartPolicy],
        default: RestartPolicy,
        kind: &str,
    ) -> Result<(), FieldError> {
        validate::labels(&self.metadata.labels, &format!("{path}.metadata.labels"))?;
        let annotations = &self.metadata.annotations;
        crate::egress::limits::Limits::from_annotations(annotations).map_err(|(key, m)| {
            FieldError::new(format!("{path}.metadata.annotations[{key}]"), m)
        })?;
        if let Some(url) = annotations.get(super::well_known::KEYVALUE_URL) {
            super::well_known::check_keyvalue_url(url).map_err(|m| {
                let key = super::well_known::KEYVALUE_URL;
                FieldError::new(format!("{path}.metadata.annotations[{key}]"), m)
            })?;
        }
        self.spec
            .normalize(&format!("{path}.spec"), allowed, default, kind)
    }
}

impl PodSpec {
    fn normalize(
        &mut self,
        path: &str,
        allowed: &[RestartPolicy],
        default: RestartPolicy,
        kind: &str,
    ) -> Result<(), FieldError> {
        if self.containers.is_empty() {
            return Err(FieldError::new(
                format!("{path}.containers"),
                "is required: at least one container, whose image is the Wasm module to run",
            ));
        }
        let policy = *self.restart_policy.get_or_insert(default);
        if !allowed.contains(&policy) {
            let names: Vec<_> = allowed.iter().map(|p| p.as_str()).collect();
            return Err(FieldError::new(
                format!("{path}.restartPolicy"),
                format!(
                    "unsupported value {:?}: a {kind} needs {}",
                    policy.as_str(),
                    names.join(" or ")
                ),
            ));
        }
        if let Some(secs) = self.active_deadline_seconds {
            validate::positive(secs).at(&format!("{path}.activeDeadlineSeconds"))?;
        }
        if let Some(class) = &self.priority_class_name {
            validate::object_name(class, 253).at(&format!("{path}.priorityClassName"))?;
        }
        if let Some(secs) = self.termination_grace_period_seconds {
            validate::non_negative(secs).at(&format!("{path}.terminationGracePeriodSeconds"))?;
        }
        for (i, secret) in self.image_pull_secrets.iter().enumerate() {
            validate::required(&secret.name, &format!("{path}.imagePullSecrets[{i}].name"))?;
        }
        self.placement_at(path)?;
        let mut names = Vec::new();
        for (i, volume) in self.volumes.iter().enumerate() {
            volume.validate(&format!("{path}.volumes[{i}]"))?;
            if names.contains(&volume.name.as_str()) {
                return Err(FieldError::new(
                    format!("{path}.volumes[{i}].name"),
                    format!("duplicate volume name {:?}", volume.name),
                ));
            }
            names.push(&volume.name);
        }
        let mut seen: Vec<&str> = Vec::new();
        let all = (self.init_containers.iter().enumerate())
            .map(|(i, c)| (format!("{path}.initContainers[{i}]"), c, true))
            .chain(
                (self.containers.iter().enumerate())
                    .map(|(i, c)| (format!("{path}.containers[{i}]"), c, false)),
            );
        for (at, container, init) in all {
            container.validate(&at, &names)?;
            if seen.contains(&container.name.as_str()) {
                return Err(FieldError::new(
                    format!("{at}.name"),
                    format!("duplicate container name {:?}", container.name),
                ));
            }
            seen.push(&container.name);
            match (container.restart_policy.as_deref(), init) {
                (None, _) | (Some("Always"), true) => {}
                (Some(other), true) => {
                    return Err(FieldError::new(
                        format!("{at}.restartPolicy"),
                        format!(
                            "unsupported value {other:?}: an init container's restartPolicy is \
                             Always (a native sidecar) or absent"
                        ),
                    ));
                }
                (Some(_), false) => {
                    return Err(FieldError::new(
                        format!("{at}.restartPolicy"),
                        "may only be set on init containers (restartPolicy: Always makes a \
                         native sidecar)",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether an instance runs more than one module (init containers,
    /// sidecars, several containers).
    pub fn is_multi(&self) -> bool {
        !self.init_containers.is_empty() || self.containers.len() > 1
    }

    /// What one instance takes of each extended resource: its containers'
    /// together (an init container runs alone, before them: the larger of
    /// its and theirs).
    pub fn extended_resources(&self) -> BTreeMap<String, i64> {
        let mut total: BTreeMap<String, i64> = BTreeMap::new();
        for container in &self.containers {
            for (name, count) in container.extended_resources() {
                *total.entry(name).or_default() += count;
            }
        }
        for container in &self.init_containers {
            for (name, count) in container.extended_resources() {
                let entry = total.entry(name).or_default();
                *entry = (*entry).max(count);
            }
        }
        total.retain(|_, count| *count > 0);
        total
    }

    /// Every container, init containers first.
    pub fn all_containers(&self) -> impl Iterator<Item = &Container> {
        self.init_containers.iter().chain(&self.containers)
    }

    /// Every container, init containers first, to change.
    pub fn all_containers_mut(&mut self) -> impl Iterator<Item = &mut Container> {
        self.init_containers.iter_mut().chain(&mut self.containers)
    }
}

impl PodSpec {
    /// Where the instance may run (the template was validated at load).
    pub fn placement(&self) -> Placement {
        self.placement_at("spec").unwrap_or_default()
    }

    /// The memory limits of the containers summed, in bytes (what a
    /// namespace's `limits.memory` quota counts of one instance); none when
    /// a container names none.
    pub fn memory_limits(&self) -> Option<i64> {
        let each = self.containers.iter().map(|c| c.memory_limit());
        each.map(|m| m.map(|m| m as i64)).sum()
    }

    /// `terminationGracePeriodSeconds`, when it gives a grace.
    pub fn termination_grace(&self) -> Option<std::time::Duration> {
        let secs = self.termination_grace_period_seconds?;
        Some(std::time::Duration::from_secs(secs.max(0) as u64))
    }

    /// The one node this template's placement admits by name — a
    /// `nodeSelector` on `kubernetes.io/hostname`, or a required node
    /// affinity whose only term asks for one hostname — if it names one.
    pub fn pinned_node(&self) -> Option<&str> {
        use super::disconnect::HOSTNAME_LABEL;
        if let Some(node) = self.node_selector.get(HOSTNAME_LABEL) {
            return Some(node);
        }
        let required = self
            .affinity
            .as_ref()?
            .node_affinity
            .as_ref()?
            .required_during_scheduling_ignored_during_execution
            .as_ref()?;
        let [term] = required.node_selector_terms.as_slice() else {
            return None;
        };
        term.match_expressions
            .iter()
            .find(|e| e.key == HOSTNAME_LABEL && e.operator == "In" && e.values.len() == 1)
            .map(|e| e.values[0].as_str())
    }

    fn placement_at(&self, path: &str) -> Result<Placement, FieldError> {
        for (i, toleration) in self.tolerations.iter().enumerate() {
            toleration.validate(&format!("{path}.tolerations[{i}]"))?;
        }
        let placement = Placement::new(&self.node_selector, self.affinity.as_ref(), path)?;
        Ok(placement.tolerating(&self.tolerations))
    }
}

impl Container {
    fn validate(&self, path: &str, volumes: &[&str]) -> Result<(), FieldError> {
        validate::dns_label(&self.name).at(&format!("{path}.name"))?;
        if self.image.trim().is_empty() {
            return Err(FieldError::new(
                format!("{path}.image"),
                "is required: a .wasm or .wat path relative to the manifest, file://PATH, \
                 or sha256:DIGEST of a stored module",
            ));
        }
        for (i, var) in self.env.iter().enumerate() {
            let at = format!("{path}.env[{i}]");
            if var.name.is_empty() || var.name.contains('=') {
                return Err(FieldError::new(
                    format!("{at}.name"),
                    format!(
                        "invalid name {:?}: must be non-empty and contain no '='",
                        var.name
                    ),
                ));
            }
            if let Some(from) = &var.value_from {
                from.validate(&format!("{at}.valueFrom"), !var.value.is_empty())?;
            }
        }
        if let Some(dir) = &self.working_dir
            && !dir.starts_with('/')
        {
            return Err(FieldError::new(
                format!("{path}.workingDir"),
                format!("must be an absolute path, got {dir:?}"),
            ));
        }
        for (i, from) in self.env_from.iter().enumerate() {
            let at = format!("{path}.envFrom[{i}]");
            match (&from.config_map_ref, &from.secret_ref) {
                (Some(c), None) => required(&c.name, &format!("{at}.configMapRef.name"))?,
                (None, Some(s)) => required(&s.name, &format!("{at}.secretRef.name"))?,
                _ => {
                    return Err(FieldError::new(
                        at,
                        "needs exactly one of configMapRef or secretRef",
                    ));
                }
            }
        }
        self.resources.validate(&format!("{path}.resources"))?;
        let mut paths = Vec::new();
        for (i, mount) in self.volume_mounts.iter().enumerate() {
            let at = format!("{path}.volumeMounts[{i}]");
            if !volumes.contains(&mount.name.as_str()) {
                return Err(FieldError::new(
                    format!("{at}.name"),
                    format!("no volume named {:?} in spec.volumes", mount.name),
                ));
            }
            if !mount.mount_path.starts_with('/') {
                return Err(FieldError::new(
                    format!("{at}.mountPath"),
                    format!("must be an absolute path, got {:?}", mount.mount_path),
                ));
            }
            if paths.contains(&mount.mount_path.as_str()) {
                return Err(FieldError::new(
                    format!("{at}.mountPath"),
                    format!("{:?} is mounted twice", mount.mount_path),
                ));
            }
            paths.push(&mount.mount_path);
        }
        Ok(())
    }

    /// The memory limit in bytes, if one is set.
    pub fn memory_limit(&self) -> Option<u64> {
        let text = self.resources.limits.memory.as_deref()?;
        parse_memory_quantity(text).ok()
    }
}
