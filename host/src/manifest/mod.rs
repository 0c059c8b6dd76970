//! Kubernetes objects: the types wasmjob accepts (spec), records (status),
//! their defaults and their validation.
//!
//! A file holds one or more YAML documents (`---`). Each is a `batch/v1` Job or
//! CronJob, an `apps/v1` DaemonSet, a `v1` ConfigMap or Secret, or a
//! `networking.k8s.io/v1` NetworkPolicy (among others). Every problem is reported as one
//! [`ManifestError`] naming the file, the document and the field path, in the
//! form `jobs.yaml: document 2: spec.parallelism: must be >= 0, got -3`.
//!
//! Loading is pure: it reads YAML text and returns typed objects. Resolving
//! `image` references to module bytes happens in [`crate::module`], because it
//! touches the file system and the store.

mod config;
mod cronjob;
mod daemonset;
mod depends;
mod disconnect;
pub mod downward;
mod env;
mod error;
pub mod expansion;
mod ignored;
mod job;
mod job_policy;
mod load;
mod meta;
pub mod network;
mod placement;
mod pod;
mod priority_class;
mod quantity;
pub mod quota;
pub mod rbac;
mod resources;
mod status;
pub mod taints;
pub mod validate;
mod volume;
pub mod well_known;

pub use config::{Config, MAX_CONFIG_BYTES, decode as config_decode};
pub use cronjob::{
    ConcurrencyPolicy, CronJobSpec, JobTemplateSpec, MissedRunPolicy, OverlapPolicy, ScheduleEntry,
    timetable_of,
};
pub use daemonset::{DaemonSetSpec, IntOrPercent, LabelSelector, RollingUpdate, UpdateStrategy};
pub use depends::{Dependency, DependencyCondition, names_in as depends_on_names};
pub use disconnect::{Disconnect, DisconnectPolicy, HOSTNAME_LABEL, MIN_LOST_AFTER, Reconcile};
pub use env::{
    EnvFromSource, EnvVar, EnvVarSource, FieldSelector, KeySelector, NameSelector,
    ResourceFieldSelector,
};
pub use error::{FieldError, ManifestError, Source};
pub use job::{CompletionMode, JobSpec, QueueMode, QueueSource};
pub use job_policy::{
    BackoffPolicy, ExitCodeOperator, FailureAction, OnExitCodes, OnPodCondition, PodFailurePolicy,
    PodFailurePolicyRule, SuccessPolicy, SuccessPolicyRule, parse_indexes,
};
pub use load::{Document, load_file, load_str};
pub use meta::{ObjectMeta, OwnerReference};
pub use placement::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Placement,
};
pub use pod::{Container, PodSpec, PodTemplateSpec, RestartPolicy};
pub use priority_class::{MAX_USER_PRIORITY, Priority, SYSTEM_PRIORITY_CLASSES};
pub use quantity::{memory_quantity, parse_memory_quantity};
pub use resources::{ResourceList, Resources, has_resources};
pub use status::{
    BackfillRun, BackfillStatus, Condition, CronJobStatus, JobStatus, ObjectReference, Outcome,
    Phase, Termination,
};
pub use taints::{Taint, TaintChange, TaintEffect, Toleration};
pub use volume::{
    ClaimVolume, ConfigMapVolume, DownwardApiFile, DownwardApiVolume, EmptyDirVolume,
    HostPathVolume, KeyToPath, ProjectedVolume, SecretVolume, Volume, VolumeMount,
    VolumeProjection,
};

use serde::{Deserialize, Serialize};

/// The API version of Jobs and CronJobs.
pub const BATCH_V1: &str = "batch/v1";
/// The API version of DaemonSets.
pub const APPS_V1: &str = "apps/v1";
/// The API version of ConfigMaps and Secrets.
pub const CORE_V1: &str = "v1";
/// The API version of PriorityClasses.
pub const SCHEDULING_V1: &str = "scheduling.k8s.io/v1";

/// The kinds of object wasmjob stores and controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// A `batch/v1` Job.
    Job,
    /// A `batch/v1` CronJob.
    CronJob,
    /// An `apps/v1` DaemonSet.
    DaemonSet,
    /// A `v1` ConfigMap.
    ConfigMap,
    /// A `v1` Secret.
    Secret,
    /// A `scheduling.k8s.io/v1` PriorityClass.
    PriorityClass,
    /// A `v1` Namespace: a name objects live under, created explicitly
    /// (`kubectl create namespace`) or by being used.
    Namespace,
    /// An `apps/v1` ControllerRevision: one template a DaemonSet has run,
    /// kept by wasmjob for `rollout history|undo`, never applied.
    ControllerRevision,
    /// A `networking.k8s.io/v1` NetworkPolicy: the grants of egress.
    NetworkPolicy,
    /// A `v1` ServiceAccount: an identity tokens are made for.
    ServiceAccount,
    /// An `rbac.authorization.k8s.io/v1` Role: rules in one namespace.
    Role,
    /// An `rbac.authorization.k8s.io/v1` ClusterRole: rules anywhere.
    ClusterRole,
    /// An `rbac.authorization.k8s.io/v1` RoleBinding: a role granted in one
    /// namespace.
    RoleBinding,
    /// An `rbac.authorization.k8s.io/v1` ClusterRoleBinding: a ClusterRole
    /// granted everywhere.
    ClusterRoleBinding,
    /// A `v1` ResourceQuota: the most objects of each kind a namespace holds.
    ResourceQuota,
    /// A `v1` LimitRange: a namespace's default and bounds of memory.
    LimitRange,
}

impl Kind {
    /// The kinds whose objects live in a namespace (and go with it).
    pub const NAMESPACED: [Kind; 12] = [
        Kind::Job,
        Kind::CronJob,
        Kind::DaemonSet,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::ControllerRevision,
        Kind::NetworkPolicy,
        Kind::ServiceAccount,
        Kind::Role,
        Kind::RoleBinding,
        Kind::ResourceQuota,
        Kind::LimitRange,
    ];

    /// The `kind` field's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
            Kind::DaemonSet => "DaemonSet",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::PriorityClass => "PriorityClass",
            Kind::Namespace => "Namespace",
            Kind::ControllerRevision => "ControllerRevision",
            Kind::NetworkPolicy => "NetworkPolicy",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::Role => "Role",
            Kind::ClusterRole => "ClusterRole",
            Kind::RoleBinding => "RoleBinding",
            Kind::ClusterRoleBinding => "ClusterRoleBinding",
            Kind::ResourceQuota => "ResourceQuota",
            Kind::LimitRange => "LimitRange",
        }
    }

    /// The kind of a stored `kind` field.
    pub fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "Job" => Kind::Job,
            "CronJob" => Kind::CronJob,
            "DaemonSet" => Kind::DaemonSet,
            "ConfigMap" => Kind::ConfigMap,
            "Secret" => Kind::Secret,
            "PriorityClass" => Kind::PriorityClass,
            "Namespace" => Kind::Namespace,
            "ControllerRevision" => Kind::ControllerRevision,
            "NetworkPolicy" => Kind::NetworkPolicy,
            "ServiceAccount" => Kind::ServiceAccount,
            "Role" => Kind::Role,
            "ClusterRole" => Kind::ClusterRole,
            "RoleBinding" => Kind::RoleBinding,
            "ClusterRoleBinding" => Kind::ClusterRoleBinding,
            "ResourceQuota" => Kind::ResourceQuota,
            "LimitRange" => Kind::LimitRange,
            _ => return None,
        })
    }

    /// The `apiVersion` the kind belongs to.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Job | Kind::CronJob => BATCH_V1,
            Kind::DaemonSet | Kind::ControllerRevision => APPS_V1,
            Kind::ConfigMap
            | Kind::Secret
            | Kind::Namespace
            | Kind::ServiceAccount
            | Kind::ResourceQuota
            | Kind::LimitRange => CORE_V1,
            Kind::Role | Kind::ClusterRole | Kind::RoleBinding | Kind::ClusterRoleBinding => {
                rbac::RBAC_V1
            }
            Kind::PriorityClass => SCHEDULING_V1,
            Kind::NetworkPolicy => network::NETWORKING_V1,
        }
    }

    /// The resource's `plural.group`, as in `jobs.batch "pi" already exists`.
    pub fn resource(self) -> &'static str {
        match self {
            Kind::Job => "jobs.batch",
            Kind::CronJob => "cronjobs.batch",
            Kind::DaemonSet => "daemonsets.apps",
            Kind::ConfigMap => "configmaps",
            Kind::Secret => "secrets",
            Kind::PriorityClass => "priorityclasses.scheduling.k8s.io",
            Kind::Namespace => "namespaces",
            Kind::ControllerRevision => "controllerrevisions.apps",
            Kind::NetworkPolicy => "networkpolicies.networking.k8s.io",
            Kind::ServiceAccount => "serviceaccounts",
            Kind::Role => "roles.rbac.authorization.k8s.io",
            Kind::ClusterRole => "clusterroles.rbac.authorization.k8s.io",
            Kind::RoleBinding => "rolebindings.rbac.authorization.k8s.io",
            Kind::ClusterRoleBinding => "clusterrolebindings.rbac.authorization.k8s.io",
            Kind::ResourceQuota => "resourcequotas",
            Kind::LimitRange => "limitranges",
        }
    }

    /// kubectl's `kind.group` spelling, as in `job.batch/pi created`.
    pub fn qualified(self) -> &'static str {
        match self {
            Kind::Job => "job.batch",
            Kind::CronJob => "cronjob.batch",
            Kind::DaemonSet => "daemonset.apps",
            Kind::ConfigMap => "configmap",
            Kind::Secret => "secret",
            Kind::PriorityClass => "priorityclass.scheduling.k8s.io",
            Kind::Namespace => "namespace",
            Kind::ControllerRevision => "controllerrevision.apps",
            Kind::NetworkPolicy => "networkpolicy.networking.k8s.io",
            Kind::ServiceAccount => "serviceaccount",
            Kind::Role => "role.rbac.authorization.k8s.io",
            Kind::ClusterRole => "clusterrole.rbac.authorization.k8s.io",
            Kind::RoleBinding => "rolebinding.rbac.authorization.k8s.io",
            Kind::ClusterRoleBinding => "clusterrolebinding.rbac.authorization.k8s.io",
            Kind::ResourceQuota => "resourcequota",
            Kind::LimitRange => "limitrange",
        }
    }

    /// Whether objects of this kind run instances (a ConfigMap or Secret
    /// only holds values).
    pub fn runs(self) -> bool {
        !matches!(
            self,
            Kind::ConfigMap
                | Kind::Secret
                | Kind::PriorityClass
                | Kind::Namespace
                | Kind::ControllerRevision
                | Kind::NetworkPolicy
                | Kind::ServiceAccount
                | Kind::Role
                | Kind::ClusterRole
                | Kind::RoleBinding
                | Kind::ClusterRoleBinding
                | Kind::ResourceQuota
                | Kind::LimitRange
        )
    }

    /// Whether objects of this kind belong to no namespace (stored with an
    /// empty one).
    pub fn cluster_scoped(self) -> bool {
        matches!(
            self,
            Kind::PriorityClass | Kind::Namespace | Kind::ClusterRole | Kind::ClusterRoleBinding
        )
    }
}

/// One validated object from a manifest.
// A CronJob holds a Job's spec and its own: the variants differ in size,
// and objects are few and long-lived, so boxing one would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// A Job.
    Job(Job),
    /// A CronJob.
    CronJob(CronJob),
    /// A DaemonSet.
    DaemonSet(DaemonSet),
    /// A ConfigMap or Secret.
    Config(Config),
}

impl Object {
    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Job(_) => Kind::Job,
            Object::CronJob(_) => Kind::CronJob,
            Object::DaemonSet(_) => Kind::DaemonSet,
            Object::Config(c) => c.kind,
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Job(o) => &o.metadata,
            Object::CronJob(o) => &o.metadata,
            Object::DaemonSet(o) => &o.metadata,
            Object::Config(o) => &o.metadata,
        }
    }

    /// The object's metadata, to change.
    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::Job(o) => &mut o.metadata,
            Object::CronJob(o) => &mut o.metadata,
            Object::DaemonSet(o) => &mut o.metadata,
            Object::Config(o) => &mut o.metadata,
        }
    }

    /// The stored form of the object's manifest (`metadata` and `spec`):
    /// two applies of the same manifest give the same value, which is how
    /// an unchanged object is recognised.
    pub fn stored_json(&self) -> serde_json::Value {
        match self {
            Object::Job(o) => serde_json::json!({ "metadata": o.metadata, "spec": o.spec }),
            Object::CronJob(o) => serde_json::json!({ "metadata": o.metadata, "spec": o.spec }),
            Object::DaemonSet(o) => serde_json::json!({ "metadata": o.metadata, "spec": o.spec }),
            Object::Config(o) => o.stored_json(),
        }
    }

    /// The pod template every instance of this object is made from (none
    /// for a ConfigMap or Secret).
    pub fn template(&self) -> Option<&PodTemplateSpec> {
        match self {
            Object::Job(o) => Some(&o.spec.template),
            Object::CronJob(o) => Some(&o.spec.job_template.spec.template),
            Object::DaemonSet(o) => Some(&o.spec.template),
            Object::Config(_) => None,
        }
    }

    /// [`Object::template`], to change.
    pub fn template_mut(&mut self) -> Option<&mut PodTemplateSpec> {
        match self {
            Object::Job(o) => Some(&mut o.spec.template),
            Object::CronJob(o) => Some(&mut o.spec.job_template.spec.template),
            Object::DaemonSet(o) => Some(&mut o.spec.template),
            Object::Config(_) => None,
        }
    }
}

/// A `batch/v1` Job as applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Name, namespace, labels, annotations.
    pub metadata: ObjectMeta,
    /// What to run and how often.
    pub spec: JobSpec,
}

/// A `batch/v1` CronJob as applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CronJob {
    /// Name, namespace, labels, annotations.
    pub metadata: ObjectMeta,
    /// The schedule and the Job template.
    pub spec: CronJobSpec,
}

/// An `apps/v1` DaemonSet as applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonSet {
    /// Name, namespace, labels, annotations.
    pub metadata: ObjectMeta,
    /// The per-node template.
    pub spec: DaemonSetSpec,
}

impl Job {
    /// What a cluster does while the Job's node is away.
    pub fn disconnect(&self) -> DisconnectPolicy {
        let pod = &self.spec.template.spec;
        Disconnect::policy(self.spec.disconnect.as_ref(), pod)
    }
}

impl CronJob {
    /// What a cluster does while the CronJob's node is away.
    pub fn disconnect(&self) -> DisconnectPolicy {
        let pod = &self.spec.job_template.spec.template.spec;
        Disconnect::policy(self.spec.disconnect.as_ref(), pod)
    }
}

impl DaemonSet {
    /// What a cluster does with the instances of a node that is away.
    pub fn disconnect(&self) -> DisconnectPolicy {
        Disconnect::policy(self.spec.disconnect.as_ref(), &self.spec.template.spec)
    }
}

#[cfg(test)]
mod tests;
