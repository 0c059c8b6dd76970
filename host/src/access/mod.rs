//! Who is asking, and whether they may: the identity behind a bearer token
//! (the node's admin token, or a ServiceAccount's token made by the
//! TokenRequest API, see [`tokens`]), what a request asks to do in
//! Kubernetes' terms ([`request`]), and Kubernetes RBAC's answer from the
//! Roles, ClusterRoles and bindings stored and the defaults every cluster
//! has ([`grants`], [`defaults`]), and how much a namespace may hold
//! ([`quota`]), shared between a cluster's nodes ([`quota_share`]);
//! which requests the audit log records ([`audit_policy`]);
//! what a namespace's Pod Security level lets its workloads mount
//! ([`pod_security`]), and the node's defaults and exempt namespaces for
//! it ([`admission_config`]).
//!
//! Deciding is pure: [`Grants`] holds the roles and bindings read for one
//! request and answers [`Grants::allows`] without touching the store, so
//! every rule of RBAC is pinned by unit tests here; the API reads the
//! grants, asks, and answers 403 with Kubernetes' `Forbidden` message.

pub mod admission_config;
pub mod audit_policy;
pub mod binding;
pub mod defaults;
pub mod grants;
pub mod pod_security;
pub mod quota;
pub mod quota_share;
pub mod request;
pub mod tokens;

pub use grants::{Decision, Grants};
pub use request::Attributes;

/// The group of the node's admin: allowed everything, as Kubernetes'
/// `system:masters`.
pub const MASTERS: &str = "system:masters";
/// The group of everyone who presented a valid token.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The user name of the node's admin token.
pub const ADMIN_USER: &str = "wasmjob-admin";

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `wasmjob-admin`, or `system:serviceaccount:NAMESPACE:NAME`.
    pub user: String,
    /// Groups, `system:authenticated` among them.
    pub groups: Vec<String>,
    /// The ServiceAccount's uid, for a ServiceAccount's token.
    pub uid: String,
}

impl Identity {
    /// The holder of the node's admin token.
    pub fn admin() -> Identity {
        Identity {
            user: ADMIN_USER.to_owned(),
            groups: vec![MASTERS.to_owned(), AUTHENTICATED.to_owned()],
            uid: String::new(),
        }
    }

    /// ServiceAccount `name` of `namespace` (uid `uid`), with the groups
    /// Kubernetes gives one.
    pub fn service_account(namespace: &str, name: &str, uid: &str) -> Identity {
        Identity {
            user: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{namespace}"),
                AUTHENTICATED.to_owned(),
            ],
            uid: uid.to_owned(),
        }
    }

    /// Whether it is allowed everything without asking the grants.
    pub fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS)
    }

    /// The ServiceAccount's namespace and name, when it is one.
    pub fn account(&self) -> Option<(&str, &str)> {
        let rest = self.user.strip_prefix("system:serviceaccount:")?;
        rest.split_once(':')
    }
}
