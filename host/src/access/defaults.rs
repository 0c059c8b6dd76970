//! The ClusterRoles and ClusterRoleBindings every Kubernetes cluster has,
//! for what wasmjob serves: `view`, `edit`, `admin` and `cluster-admin`
//! (grant them with a RoleBinding or ClusterRoleBinding), and what every
//! holder of a valid token may do — read discovery and health, ask what
//! they may do (`system:discovery`, `system:basic-user`). A stored
//! ClusterRole or ClusterRoleBinding of the same name replaces a default.

use super::binding::Binding;
use crate::manifest::rbac::{PolicyRule, RBAC_GROUP, RoleRef, Subject};

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const ALL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// A rule of `verbs` on `resources` of `groups`.
pub(super) fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let own = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
    PolicyRule {
        api_groups: own(groups),
        resources: own(resources),
        verbs: own(verbs),
        ..PolicyRule::default()
    }
}

fn urls(paths: &[&str], verbs: &[&str]) -> PolicyRule {
    let own = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
    PolicyRule {
        non_resource_urls: own(paths),
        verbs: own(verbs),
        ..PolicyRule::default()
    }
}

/// `view`: read everything in a namespace but Secrets (and roles).
fn view() -> Vec<PolicyRule> {
    vec![
        rule(
            &[""],
            &[
                "configmaps",
                "events",
                "namespaces",
                "namespaces/status",
                "pods",
                "pods/log",
                "pods/status",
                "serviceaccounts",
            ],
            READ,
        ),
        rule(
            &["apps"],
            &["controllerrevisions", "daemonsets", "daemonsets/status"],
            READ,
        ),
        rule(
            &["batch"],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
            READ,
        ),
        rule(&["events.k8s.io"], &["events"], READ),
        rule(&["networking.k8s.io"], &["networkpolicies"], READ),
        rule(&["wasmjob.dev"], &["instances"], READ),
    ]
}

/// `edit`: `view`, and write the workloads and values of a namespace,
/// read its Secrets and make tokens for its ServiceAccounts.
fn edit() -> Vec<PolicyRule> {
    let mut rules = view();
    rules.extend([
        rule(
            &[""],
            &["configmaps", "pods", "secrets", "serviceaccounts"],
            WRITE,
        ),
        rule(&[""], &["secrets"], READ),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
        rule(&["apps"], &["daemonsets"], WRITE),
        rule(&["batch"], &["cronjobs", "jobs"], WRITE),
        rule(&["networking.k8s.io"], &["networkpolicies"], WRITE),
    ]);
    rules
}

/// `admin`: `edit`, and the namespace's Roles and RoleBindings.
fn admin() -> Vec<PolicyRule> {
    let mut rules = edit();
    rules.extend([
        rule(&[RBAC_GROUP], &["rolebindings", "roles"], ALL),
        rule(
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
            &["create"],
        ),
    ]);
    rules
}

/// `cluster-admin`: everything.
pub fn everything() -> Vec<PolicyRule> {
    vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])]
}

/// `system:basic-user`: ask who one is and what one may do.
fn basic_user() -> Vec<PolicyRule> {
    vec![
        rule(
            &["authorization.k8s.io"],
            &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            &["create"],
        ),
        rule(
            &["authentication.k8s.io"],
            &["selfsubjectreviews"],
            &["create"],
        ),
    ]
}

/// `system:discovery`: what the API serves, its version and health, and
/// two wasmjob paths that read no object: the schedule preview (`cron
/// next`) and the store's commit count (`get --watch` waits on it).
fn discovery() -> Vec<PolicyRule> {
    vec![urls(
        &[
            "/api",
            "/api/*",
            "/apis",
            "/apis/*",
            "/healthz",
            "/livez",
            "/openapi",
            "/openapi/*",
            "/readyz",
            "/version",
            "/version/",
            "/wasmjob/v1/commits",
            "/wasmjob/v1/schedule",
        ],
        &["get"],
    )]
}

/// The rules every holder of a valid token has.
pub fn basic_rules() -> Vec<PolicyRule> {
    let mut rules = basic_user();
    rules.extend(discovery());
    rules
}

/// The default ClusterRoles, by name.
pub fn cluster_roles() -> Vec<(&'static str, Vec<PolicyRule>)> {
    vec![
        ("admin", admin()),
        ("cluster-admin", everything()),
        ("edit", edit()),
        ("system:basic-user", basic_user()),
        ("system:discovery", discovery()),
        ("view", view()),
    ]
}

/// The default ClusterRoleBindings: `cluster-admin` to `system:masters`,
/// and discovery and self-review to everyone authenticated.
pub fn cluster_role_bindings() -> Vec<Binding> {
    let group = |name: &str| Subject {
        kind: "Group".to_owned(),
        api_group: RBAC_GROUP.to_owned(),
        name: name.to_owned(),
        namespace: String::new(),
    };
    let bind = |role: &str, to: &str| Binding {
        name: role.to_owned(),
        namespace: String::new(),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.to_owned(),
            kind: "ClusterRole".to_owned(),
            name: role.to_owned(),
        },
        subjects: vec![group(to)],
    };
    vec![
        bind("cluster-admin", super::MASTERS),
        bind("system:basic-user", super::AUTHENTICATED),
        bind("system:discovery", super::AUTHENTICATED),
    ]
}

/// The defaults as stored objects would show them (`get clusterroles`),
/// labelled as Kubernetes labels its own.
pub fn cluster_role_objects() -> Vec<serde_json::Value> {
    cluster_roles()
        .into_iter()
        .map(|(name, rules)| {
            serde_json::json!({
                "apiVersion": crate::manifest::rbac::RBAC_V1,
                "kind": "ClusterRole",
                "metadata": {
                    "name": name,
                    "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                },
                "rules": rules,
            })
        })
        .collect()
}

/// The default bindings as `get clusterrolebindings` shows them.
pub fn cluster_role_binding_objects() -> Vec<serde_json::Value> {
    cluster_role_bindings()
        .into_iter()
        .map(|b| {
            serde_json::json!({
                "apiVersion": crate::manifest::rbac::RBAC_V1,
                "kind": "ClusterRoleBinding",
                "metadata": {
                    "name": b.name,
                    "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                },
                "roleRef": b.role_ref,
                "subjects": b.subjects,
            })
        })
        .collect()
}
