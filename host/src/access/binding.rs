//! A RoleBinding or ClusterRoleBinding as a decision reads it: its name,
//! where it applies, the role it grants and to whom — stored ones and the
//! defaults alike (see [`super::grants`], [`super::defaults`]).

use crate::manifest::rbac::{RoleRef, Subject};

/// A RoleBinding (with its namespace) or a ClusterRoleBinding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Its name.
    pub name: String,
    /// Empty for a ClusterRoleBinding.
    pub namespace: String,
    /// The role granted.
    pub role_ref: RoleRef,
    /// To whom.
    pub subjects: Vec<Subject>,
}
