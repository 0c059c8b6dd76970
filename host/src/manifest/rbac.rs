//! Who may do what, as objects: `v1` ServiceAccounts (the identities a
//! token is made for) and `rbac.authorization.k8s.io/v1` Roles,
//! ClusterRoles, RoleBindings and ClusterRoleBindings, read and checked by
//! Kubernetes' rules. They run nothing and are stored as the other
//! value-holding objects are ([`super::Config`]); [`crate::access`] reads
//! them to decide each request.

use serde::{Deserialize, Serialize};

use super::{FieldError, Kind, ObjectMeta};

/// The API version of Roles, ClusterRoles and their bindings.
pub const RBAC_V1: &str = "rbac.authorization.k8s.io/v1";
/// The API group of Roles and ClusterRoles, as a `roleRef` names it.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// One rule of a Role: the verbs it allows on the resources (or, in a
/// ClusterRole, the non-resource URLs) it names. `*` matches anything.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRule {
    /// `""` for the core group.
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// Plurals, `plural/subresource`, `*/subresource`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, …
    /// (required: checked by [`check_role`], which names the field).
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Only these objects, when given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Paths such as `/healthz` or `/api/*` (ClusterRoles only).
    #[serde(
        default,
        rename = "nonResourceURLs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

/// The role a binding grants.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleRef {
    /// `rbac.authorization.k8s.io`.
    pub api_group: String,
    /// `Role` or `ClusterRole`.
    pub kind: String,
    /// The role's name.
    pub name: String,
}

/// Who a binding grants its role to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subject {
    /// `ServiceAccount`, `User` or `Group`.
    pub kind: String,
    /// `""` for a ServiceAccount, `rbac.authorization.k8s.io` otherwise.
    #[serde(default)]
    pub api_group: String,
    /// The account's, user's or group's name.
    pub name: String,
    /// A ServiceAccount's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// What an access object holds besides its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// A ServiceAccount: `automountServiceAccountToken` (kept; instances
    /// are given no token either way).
    ServiceAccount {
        /// As given.
        automount: Option<bool>,
    },
    /// A Role's or ClusterRole's rules.
    Rules(Vec<PolicyRule>),
    /// A RoleBinding's or ClusterRoleBinding's role and subjects.
    Binding {
        /// The role granted.
        role_ref: RoleRef,
        /// To whom.
        subjects: Vec<Subject>,
    },
}

impl Access {
    /// The fields as stored and shown, at the top level of the object as
    /// Kubernetes has them (`rules`, `roleRef`, `subjects`, …).
    pub fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        match self {
            Access::ServiceAccount { automount } => {
                if let Some(on) = automount {
                    map.insert("automountServiceAccountToken".into(), (*on).into());
                }
            }
            Access::Rules(rules) => {
                map.insert("rules".into(), serde_json::to_value(rules).expect("JSON"));
            }
            Access::Binding { role_ref, subjects } => {
                map.insert(
                    "roleRef".into(),
                    serde_json::to_value(role_ref).expect("JSON"),
                );
                if !subjects.is_empty() {
                    map.insert(
                        "subjects".into(),
                        serde_json::to_value(subjects).expect("JSON"),
                    );
                }
            }
        }
        map
    }

    /// Reads the fields back from a stored object of `kind`.
    pub fn from_stored(kind: Kind, stored: &serde_json::Value) -> Result<Access, String> {
        let field = |key: &str| stored.get(key).cloned().unwrap_or(serde_json::Value::Null);
        let bad = |e: serde_json::Error| format!("stored {} cannot be read: {e}", kind.as_str());
        Ok(match kind {
            Kind::ServiceAccount => Access::ServiceAccount {
                automount: stored["automountServiceAccountToken"].as_bool(),
            },
            Kind::Role | Kind::ClusterRole => {
                let rules = match field("rules") {
                    serde_json::Value::Null => Vec::new(),
                    rules => serde_json::from_value(rules).map_err(bad)?,
                };
                Access::Rules(rules)
            }
            _ => Access::Binding {
                role_ref: serde_json::from_value(field("roleRef")).map_err(bad)?,
                subjects: match field("subjects") {
                    serde_json::Value::Null => Vec::new(),
                    subjects => serde_json::from_value(subjects).map_err(bad)?,
                },
            },
        })
    }
}

/// A ServiceAccount as written; `secrets` and `imagePullSecrets` are
/// accepted and kept out (no image is pulled with them, and tokens are
/// made on request rather than stored in Secrets).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RawServiceAccount {
    #[serde(rename = "apiVersion")]
    _api_version: serde::de::IgnoredAny,
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    #[serde(default)]
    pub(super) metadata: ObjectMeta,
    #[serde(default, rename = "secrets")]
    _secrets: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "imagePullSecrets")]
    _image_pull_secrets: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "automountServiceAccountToken")]
    pub(super) automount: Option<bool>,
}

/// A Role or ClusterRole as written.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RawRole {
    #[serde(rename = "apiVersion")]
    _api_version: serde::de::IgnoredAny,
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    #[serde(default)]
    pub(super) metadata: ObjectMeta,
    #[serde(default)]
    pub(super) rules: Vec<PolicyRule>,
    /// A ClusterRole's `aggregationRule`: refused (see [`check_role`]).
    #[serde(default)]
    pub(super) aggregation_rule: Option<serde::de::IgnoredAny>,
}

/// A RoleBinding or ClusterRoleBinding as written.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RawBinding {
    #[serde(rename = "apiVersion")]
    _api_version: serde::de::IgnoredAny,
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    #[serde(default)]
    pub(super) metadata: ObjectMeta,
    pub(super) role_ref: RoleRef,
    #[serde(default)]
    pub(super) subjects: Vec<Subject>,
}

/// Kubernetes' checks of a Role's (`kind` Role) or ClusterRole's rules.
pub(super) fn check_role(kind: Kind, raw: &RawRole) -> Result<(), FieldError> {
    if raw.aggregation_rule.is_some() {
        return Err(FieldError::new(
            "aggregationRule",
            "is not supported: list the rules in the ClusterRole itself",
        ));
    }
    for (i, rule) in raw.rules.iter().enumerate() {
        let at = |field: &str| format!("rules[{i}].{field}");
        if rule.verbs.is_empty() {
            return Err(FieldError::new(
                at("verbs"),
                "Required value: verbs must contain at least one value",
            ));
        }
        let urls = !rule.non_resource_urls.is_empty();
        if urls && kind == Kind::Role {
            return Err(FieldError::new(
                at("nonResourceURLs"),
                "namespaced rules cannot apply to non-resource URLs: put them in a ClusterRole",
            ));
        }
        if urls && (!rule.resources.is_empty() || !rule.api_groups.is_empty()) {
            return Err(FieldError::new(
                at("nonResourceURLs"),
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        if !urls && rule.resources.is_empty() {
            return Err(FieldError::new(
                at("resources"),
                "Required value: resource rules must supply at least one resource",
            ));
        }
        if !urls && rule.api_groups.is_empty() {
            return Err(FieldError::new(
                at("apiGroups"),
                "Required value: resource rules must supply at least one api group \
                 (\"\" is the core group)",
            ));
        }
    }
    Ok(())
}

/// Kubernetes' checks of a binding of `kind` (RoleBinding or
/// ClusterRoleBinding), with its defaults applied: a User's or Group's
/// `apiGroup`, and a RoleBinding's ServiceAccount's namespace.
pub(super) fn check_binding(
    kind: Kind,
    namespace: &str,
    raw: &mut RawBinding,
) -> Result<(), FieldError> {
    let role = &raw.role_ref;
    if role.api_group != RBAC_GROUP {
        return Err(unsupported(
            "roleRef.apiGroup",
            &role.api_group,
            &[RBAC_GROUP],
        ));
    }
    let kinds: &[&str] = match kind {
        Kind::RoleBinding => &["Role", "ClusterRole"],
        _ => &["ClusterRole"],
    };
    if !kinds.contains(&role.kind.as_str()) {
        return Err(unsupported("roleRef.kind", &role.kind, kinds));
    }
    if role.name.is_empty() {
        return Err(FieldError::new(
            "roleRef.name",
            "Required value: the name of the role granted",
        ));
    }
    for (i, subject) in raw.subjects.iter_mut().enumerate() {
        let at = |field: &str| format!("subjects[{i}].{field}");
        if subject.name.is_empty() {
            return Err(FieldError::new(
                at("name"),
                "Required value: the name of the account, user or group",
            ));
        }
        // A ServiceAccount is in the core group, and in the binding's
        // namespace unless named; a User or Group in RBAC's.
        let group = match subject.kind.as_str() {
            "ServiceAccount" => {
                if subject.namespace.is_empty() && kind == Kind::RoleBinding {
                    subject.namespace = namespace.to_owned();
                }
                if subject.namespace.is_empty() {
                    return Err(FieldError::new(
                        at("namespace"),
                        "Required value: a ServiceAccount is named with its namespace",
                    ));
                }
                ""
            }
            "User" | "Group" => {
                if subject.api_group.is_empty() {
                    subject.api_group = RBAC_GROUP.to_owned();
                }
                RBAC_GROUP
            }
            other => {
                let kinds = ["ServiceAccount", "User", "Group"];
                return Err(unsupported(&at("kind"), other, &kinds));
            }
        };
        if subject.api_group != group {
            return Err(unsupported(&at("apiGroup"), &subject.api_group, &[group]));
        }
    }
    Ok(())
}

/// Kubernetes' refusal of a value not among `supported`.
fn unsupported(field: &str, given: &str, supported: &[&str]) -> FieldError {
    let listed: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    FieldError::new(
        field,
        format!(
            "Unsupported value: {given:?}: supported values: {}",
            listed.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Config;
    use crate::manifest::config::tests::load;

    #[test]
    fn a_binding_takes_kubernetes_defaults_and_round_trips() {
        let c = load(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n\
             metadata: {name: v, namespace: team}\n\
             roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\n\
             subjects: [{kind: ServiceAccount, name: viewer}, {kind: User, name: ana}]\n",
        )
        .unwrap();
        let Some(Access::Binding { role_ref, subjects }) = &c.access else {
            panic!("{c:?}")
        };
        assert_eq!(role_ref.name, "view");
        assert_eq!(subjects[0].namespace, "team");
        assert_eq!(subjects[1].api_group, RBAC_GROUP);
        let stored = c.stored_json();
        assert_eq!(stored["roleRef"]["kind"], "ClusterRole");
        assert_eq!(Config::from_stored(Kind::RoleBinding, &stored).unwrap(), c);
    }

    #[test]
    fn a_role_round_trips_and_a_cluster_role_is_cluster_scoped() {
        let c = load(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n\
             metadata: {name: health, namespace: ignored}\n\
             rules:\n- nonResourceURLs: [/healthz]\n  verbs: [get]\n\
             - apiGroups: ['']\n  resources: [pods/log]\n  verbs: [get]\n  resourceNames: [a]\n",
        )
        .unwrap();
        assert_eq!(c.metadata.namespace, "");
        let stored = c.stored_json();
        assert_eq!(stored["rules"][0]["nonResourceURLs"][0], "/healthz");
        assert_eq!(stored["rules"][1]["apiGroups"][0], "");
        assert_eq!(Config::from_stored(Kind::ClusterRole, &stored).unwrap(), c);
        let sa = load("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ci}\n").unwrap();
        assert_eq!(sa.access, Some(Access::ServiceAccount { automount: None }));
    }

    #[test]
    fn kubernetes_mistakes_are_refused_with_the_field() {
        let refused = |text: &str| load(text).unwrap_err();
        let head = "apiVersion: rbac.authorization.k8s.io/v1\n";
        assert!(
            refused(&format!(
                "{head}kind: Role\nmetadata: {{name: r}}\nrules: [{{apiGroups: [''], resources: [pods]}}]\n"
            ))
            .contains("rules[0].verbs: Required value")
        );
        assert!(
            refused(&format!(
                "{head}kind: Role\nmetadata: {{name: r}}\nrules: [{{resources: [pods], verbs: [get]}}]\n"
            ))
            .contains("rules[0].apiGroups")
        );
        assert!(
            refused(&format!(
                "{head}kind: ClusterRoleBinding\nmetadata: {{name: b}}\n\
                 roleRef: {{apiGroup: {RBAC_GROUP}, kind: Role, name: r}}\n"
            ))
            .contains("roleRef.kind: Unsupported value: \"Role\"")
        );
        assert!(
            refused(&format!(
                "{head}kind: ClusterRoleBinding\nmetadata: {{name: b}}\n\
                 roleRef: {{apiGroup: {RBAC_GROUP}, kind: ClusterRole, name: view}}\n\
                 subjects: [{{kind: ServiceAccount, name: x}}]\n"
            ))
            .contains("subjects[0].namespace: Required value")
        );
        assert!(
            refused(&format!(
                "{head}kind: RoleBinding\nmetadata: {{name: b}}\n\
                 roleRef: {{apiGroup: {RBAC_GROUP}, kind: Role, name: r}}\n\
                 subjects: [{{kind: Group, apiGroup: v1, name: x}}]\n"
            ))
            .contains("subjects[0].apiGroup")
        );
        assert!(
            refused(
                "apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: Role\nmetadata: {name: r}\n"
            )
            .contains("apiVersion")
        );
    }
}
