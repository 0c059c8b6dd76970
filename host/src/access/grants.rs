//! Kubernetes RBAC's decision: the Roles and ClusterRoles a request's
//! identity is bound to (by RoleBindings in the request's namespace and by
//! ClusterRoleBindings), and whether any of their rules matches what the
//! request asks. Nothing is denied explicitly: a request is allowed when
//! one rule allows it.

use std::collections::BTreeMap;

pub use super::binding::Binding;
use super::request::{Attributes, Resource};
use super::{Identity, defaults};
use crate::manifest::rbac::{Access, PolicyRule, RoleRef, Subject};
use crate::manifest::{Config, Kind};
use crate::store::{Store, StoreError};

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether it may.
    pub allowed: bool,
    /// Which binding allowed it (Kubernetes' `status.reason`), or empty.
    pub reason: String,
}

/// The roles and bindings one decision reads: every ClusterRole and
/// ClusterRoleBinding (the defaults among them), and the Roles and
/// RoleBindings of the namespace asked about.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    cluster_roles: BTreeMap<String, Vec<PolicyRule>>,
    roles: BTreeMap<(String, String), Vec<PolicyRule>>,
    cluster_bindings: Vec<Binding>,
    bindings: Vec<Binding>,
}

impl Grants {
    /// The defaults every cluster has, and nothing else.
    pub fn defaults() -> Grants {
        let mut grants = Grants::default();
        for (name, rules) in defaults::cluster_roles() {
            grants.cluster_roles.insert(name.to_owned(), rules);
        }
        grants.cluster_bindings = defaults::cluster_role_bindings();
        grants
    }

    /// A stored ClusterRole (over a default of the same name), or a Role
    /// of `namespace`.
    pub fn add_role(&mut self, namespace: &str, name: &str, rules: Vec<PolicyRule>) {
        match namespace {
            "" => self.cluster_roles.insert(name.to_owned(), rules),
            ns => self.roles.insert((ns.to_owned(), name.to_owned()), rules),
        };
    }

    /// A stored binding (over a default ClusterRoleBinding of the same name).
    pub fn add_binding(&mut self, binding: Binding) {
        if binding.namespace.is_empty() {
            self.cluster_bindings.retain(|b| b.name != binding.name);
            self.cluster_bindings.push(binding);
        } else {
            self.bindings.push(binding);
        }
    }

    /// Reads the grants that decide requests in `namespace` (empty: at the
    /// cluster scope) from `store`.
    pub fn read(store: &Store, namespace: &str) -> Result<Grants, StoreError> {
        let mut grants = Grants::defaults();
        let mut kinds = vec![(Kind::ClusterRole, None), (Kind::ClusterRoleBinding, None)];
        if !namespace.is_empty() {
            kinds.push((Kind::Role, Some(namespace)));
            kinds.push((Kind::RoleBinding, Some(namespace)));
        }
        for (kind, namespace) in kinds {
            for record in store.live_objects(kind, namespace)? {
                // An object this version cannot read grants nothing.
                let Ok(config) = Config::from_stored(kind, &record.manifest) else {
                    continue;
                };
                let ns = match kind.cluster_scoped() {
                    true => "",
                    false => record.namespace.as_str(),
                };
                match config.access {
                    Some(Access::Rules(rules)) => grants.add_role(ns, &record.name, rules),
                    Some(Access::Binding { role_ref, subjects }) => grants.add_binding(Binding {
                        name: record.name.clone(),
                        namespace: ns.to_owned(),
                        role_ref,
                        subjects,
                    }),
                    _ => {}
                }
            }
        }
        Ok(grants)
    }

    /// Whether `who` may do `what`.
    pub fn allows(&self, who: &Identity, what: &Attributes) -> Decision {
        if who.is_master() {
            return Decision {
                allowed: true,
                reason: format!("{} is in group {}", who.user, super::MASTERS),
            };
        }
        let namespace = what.resource.as_ref().map_or("", |r| r.namespace.as_str());
        for (binding, rules) in self.bound(who, namespace) {
            if rules.iter().any(|rule| rule_allows(rule, what)) {
                let subject = binding
                    .subjects
                    .iter()
                    .find(|s| subject_matches(s, who))
                    .expect("bound");
                let (kind, name) = match binding.namespace.as_str() {
                    "" => ("ClusterRoleBinding", binding.name.clone()),
                    ns => ("RoleBinding", format!("{}/{ns}", binding.name)),
                };
                let whom = match subject.kind.as_str() {
                    "ServiceAccount" => format!("{}/{}", subject.name, subject.namespace),
                    _ => subject.name.clone(),
                };
                return Decision {
                    allowed: true,
                    reason: format!(
                        "RBAC: allowed by {kind} {name:?} of {} {:?} to {} {whom:?}",
                        binding.role_ref.kind, binding.role_ref.name, subject.kind
                    ),
                };
            }
        }
        Decision {
            allowed: false,
            reason: String::new(),
        }
    }

    /// The first permission of `rules` that `who` does not hold in
    /// `namespace` (empty: cluster-wide), if any: Kubernetes' guard against
    /// escalation, which lets one write a role, or bind one, only with
    /// every permission it grants. A `*` asked is held only as `*`.
    pub fn missing(
        &self,
        who: &Identity,
        namespace: &str,
        rules: &[PolicyRule],
    ) -> Option<Attributes> {
        for rule in rules {
            let names: Vec<&str> = match rule.resource_names.is_empty() {
                true => vec![""],
                false => rule.resource_names.iter().map(String::as_str).collect(),
            };
            for verb in &rule.verbs {
                for url in &rule.non_resource_urls {
                    let what = Attributes::non_resource(verb, url);
                    if !self.allows(who, &what).allowed {
                        return Some(what);
                    }
                }
                for group in &rule.api_groups {
                    for resource in &rule.resources {
                        for name in &names {
                            let what = Attributes::resource(verb, group, resource, namespace, name);
                            if !self.allows(who, &what).allowed {
                                return Some(what);
                            }
                        }
                    }
                }
            }
        }
        None
    }

    /// The rules of the role `role_ref` names, seen from `namespace` (a
    /// Role is looked for there); none when it does not exist.
    pub fn rules_of_role(&self, namespace: &str, role_ref: &RoleRef) -> Vec<PolicyRule> {
        let found = match role_ref.kind.as_str() {
            "ClusterRole" => self.cluster_roles.get(&role_ref.name),
            _ => self
                .roles
                .get(&(namespace.to_owned(), role_ref.name.clone())),
        };
        found.cloned().unwrap_or_default()
    }

    /// Every rule `who` holds in `namespace` (what `kubectl auth can-i
    /// --list` shows): ClusterRoleBindings' and the namespace's
    /// RoleBindings'.
    pub fn rules_of(&self, who: &Identity, namespace: &str) -> Vec<PolicyRule> {
        if who.is_master() {
            return defaults::everything();
        }
        let mut all: Vec<PolicyRule> = Vec::new();
        for (_, rules) in self.bound(who, namespace) {
            for rule in rules {
                if !all.contains(rule) {
                    all.push(rule.clone());
                }
            }
        }
        all
    }

    /// The bindings naming `who` that apply in `namespace`, each with its
    /// role's rules (a binding to a role that does not exist grants
    /// nothing, as in Kubernetes).
    fn bound<'a>(
        &'a self,
        who: &'a Identity,
        namespace: &'a str,
    ) -> impl Iterator<Item = (&'a Binding, &'a [PolicyRule])> + 'a {
        let local = self
            .bindings
            .iter()
            .filter(move |b| b.namespace == namespace);
        self.cluster_bindings
            .iter()
            .chain(local)
            .filter(move |b| b.subjects.iter().any(|s| subject_matches(s, who)))
            .filter_map(move |b| {
                let rules = match b.role_ref.kind.as_str() {
                    "ClusterRole" => self.cluster_roles.get(&b.role_ref.name),
                    _ => self
                        .roles
                        .get(&(b.namespace.clone(), b.role_ref.name.clone())),
                };
                rules.map(|r| (b, r.as_slice()))
            })
    }
}

/// Whether `subject` names `who`.
fn subject_matches(subject: &Subject, who: &Identity) -> bool {
    match subject.kind.as_str() {
        "ServiceAccount" => {
            who.account() == Some((subject.namespace.as_str(), subject.name.as_str()))
        }
        "User" => who.user == subject.name,
        "Group" => who.groups.contains(&subject.name),
        _ => false,
    }
}

/// Kubernetes' matching of one rule against a request.
pub fn rule_allows(rule: &PolicyRule, what: &Attributes) -> bool {
    let any = |list: &[String], wanted: &str| list.iter().any(|x| x == "*" || x == wanted);
    if !any(&rule.verbs, &what.verb) {
        return false;
    }
    match &what.resource {
        None => rule.non_resource_urls.iter().any(|url| {
            url == "*"
                || *url == what.path
                || url
                    .strip_suffix('*')
                    .is_some_and(|prefix| what.path.starts_with(prefix))
        }),
        Some(r) => {
            any(&rule.api_groups, &r.group)
                && resource_matches(&rule.resources, r)
                && (rule.resource_names.is_empty() || rule.resource_names.contains(&r.name))
        }
    }
}

/// `*`, the plural (with its subresource, `pods/log`), or `*/log`.
fn resource_matches(resources: &[String], r: &Resource) -> bool {
    let combined = match r.subresource.as_str() {
        "" => r.resource.clone(),
        sub => format!("{}/{sub}", r.resource),
    };
    resources.iter().any(|x| {
        x == "*"
            || *x == combined
            || (!r.subresource.is_empty() && x.strip_prefix("*/") == Some(r.subresource.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::defaults::rule;

    fn sa(namespace: &str, name: &str) -> Subject {
        Subject {
            kind: "ServiceAccount".into(),
            api_group: String::new(),
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    fn bind(namespace: &str, name: &str, role: (&str, &str), subjects: Vec<Subject>) -> Binding {
        Binding {
            name: name.into(),
            namespace: namespace.into(),
            role_ref: RoleRef {
                api_group: crate::manifest::rbac::RBAC_GROUP.into(),
                kind: role.0.into(),
                name: role.1.into(),
            },
            subjects,
        }
    }

    fn jobs(verb: &str, namespace: &str) -> Attributes {
        Attributes::resource(verb, "batch", "jobs", namespace, "")
    }

    #[test]
    fn a_role_binding_grants_its_role_in_its_namespace_only() {
        let mut g = Grants::defaults();
        g.add_binding(bind(
            "team",
            "v",
            ("ClusterRole", "view"),
            vec![sa("team", "viewer")],
        ));
        let viewer = Identity::service_account("team", "viewer", "u1");
        let d = g.allows(&viewer, &jobs("list", "team"));
        assert!(d.allowed);
        assert_eq!(
            d.reason,
            "RBAC: allowed by RoleBinding \"v/team\" of ClusterRole \"view\" to ServiceAccount \
             \"viewer/team\""
        );
        assert!(!g.allows(&viewer, &jobs("list", "other")).allowed);
        assert!(!g.allows(&viewer, &jobs("list", "")).allowed);
        assert!(!g.allows(&viewer, &jobs("delete", "team")).allowed);
        // view reads no Secrets, edit writes them.
        let secrets = Attributes::resource("get", "", "secrets", "team", "db");
        assert!(!g.allows(&viewer, &secrets).allowed);
        // Another account of the same namespace is not bound.
        let other = Identity::service_account("team", "ci", "u2");
        assert!(!g.allows(&other, &jobs("list", "team")).allowed);
    }

    #[test]
    fn edit_writes_jobs_and_secrets_but_not_roles_and_admin_does() {
        let mut g = Grants::defaults();
        g.add_binding(bind("t", "e", ("ClusterRole", "edit"), vec![sa("t", "e")]));
        g.add_binding(bind("t", "a", ("ClusterRole", "admin"), vec![sa("t", "a")]));
        let edit = Identity::service_account("t", "e", "");
        let admin = Identity::service_account("t", "a", "");
        for verb in ["create", "update", "patch", "delete", "deletecollection"] {
            assert!(g.allows(&edit, &jobs(verb, "t")).allowed, "{verb}");
        }
        assert!(
            g.allows(&edit, &Attributes::resource("get", "", "secrets", "t", "s"))
                .allowed
        );
        let token = Attributes::resource("create", "", "serviceaccounts/token", "t", "ci");
        assert!(g.allows(&edit, &token).allowed);
        let role = Attributes::resource("create", "rbac.authorization.k8s.io", "roles", "t", "");
        assert!(!g.allows(&edit, &role).allowed);
        assert!(g.allows(&admin, &role).allowed);
        // Nodes are cluster-wide: a namespace's admin does not relabel them.
        let node = Attributes::resource("patch", "", "nodes", "", "n1");
        assert!(!g.allows(&admin, &node).allowed);
        assert!(g.allows(&Identity::admin(), &node).allowed);
    }

    #[test]
    fn rules_match_subresources_names_and_wildcards_as_kubernetes_does() {
        let logs = Attributes::resource("get", "", "pods/log", "t", "pi-x");
        assert!(!rule_allows(&rule(&[""], &["pods"], &["get"]), &logs));
        assert!(rule_allows(&rule(&[""], &["pods/log"], &["get"]), &logs));
        assert!(rule_allows(&rule(&[""], &["*/log"], &["get"]), &logs));
        assert!(rule_allows(&rule(&["*"], &["*"], &["*"]), &logs));
        assert!(!rule_allows(
            &rule(&["batch"], &["pods/log"], &["get"]),
            &logs
        ));
        let mut named = rule(&[""], &["configmaps"], &["get", "update"]);
        named.resource_names = vec!["settings".into()];
        let get = |name: &str| Attributes::resource("get", "", "configmaps", "t", name);
        assert!(rule_allows(&named, &get("settings")));
        assert!(!rule_allows(&named, &get("other")));
        // A named rule cannot list: a list names no object.
        assert!(!rule_allows(&named, &get("")));
        let mut urls = rule(&[], &[], &["get"]);
        urls.non_resource_urls = vec!["/healthz".into(), "/apis/*".into()];
        assert!(rule_allows(
            &urls,
            &Attributes::non_resource("get", "/healthz")
        ));
        assert!(rule_allows(
            &urls,
            &Attributes::non_resource("get", "/apis/batch/v1")
        ));
        assert!(!rule_allows(
            &urls,
            &Attributes::non_resource("get", "/metrics")
        ));
        assert!(!rule_allows(
            &urls,
            &Attributes::non_resource("post", "/healthz")
        ));
    }

    #[test]
    fn no_one_grants_what_they_do_not_hold() {
        let mut g = Grants::defaults();
        g.add_binding(bind("t", "a", ("ClusterRole", "admin"), vec![sa("t", "a")]));
        let admin = Identity::service_account("t", "a", "");
        // A namespace's admin may bind edit and view there…
        for role in ["edit", "view", "admin"] {
            let rules = g.rules_of_role(
                "t",
                &RoleRef {
                    api_group: crate::manifest::rbac::RBAC_GROUP.into(),
                    kind: "ClusterRole".into(),
                    name: role.into(),
                },
            );
            assert!(!rules.is_empty());
            assert_eq!(g.missing(&admin, "t", &rules), None, "{role}");
        }
        // …but not cluster-admin, nor admin of another namespace.
        let everything = defaults::everything();
        let missing = g.missing(&admin, "t", &everything).expect("escalation");
        assert_eq!(missing.verb, "*");
        assert!(g.missing(&admin, "u", &edit_rules(&g)).is_some());
        // A Role of what it holds, named objects included.
        let mut named = rule(&["batch"], &["jobs"], &["get", "delete"]);
        named.resource_names = vec!["pi".into()];
        assert_eq!(g.missing(&admin, "t", &[named]), None);
        let nodes = rule(&[""], &["nodes"], &["patch"]);
        assert!(g.missing(&admin, "t", &[nodes]).is_some());
        assert_eq!(g.missing(&Identity::admin(), "", &everything), None);
    }

    fn edit_rules(g: &Grants) -> Vec<PolicyRule> {
        g.rules_of_role(
            "",
            &RoleRef {
                api_group: crate::manifest::rbac::RBAC_GROUP.into(),
                kind: "ClusterRole".into(),
                name: "edit".into(),
            },
        )
    }

    #[test]
    fn users_groups_and_cluster_bindings_and_missing_roles() {
        let mut g = Grants::defaults();
        let group = Subject {
            kind: "Group".into(),
            api_group: crate::manifest::rbac::RBAC_GROUP.into(),
            name: "system:serviceaccounts:ops".into(),
            namespace: String::new(),
        };
        g.add_binding(bind("", "ops-view", ("ClusterRole", "view"), vec![group]));
        let ops = Identity::service_account("ops", "any", "");
        assert!(g.allows(&ops, &jobs("list", "")).allowed);
        assert!(g.allows(&ops, &jobs("watch", "elsewhere")).allowed);
        // A binding to a Role that does not exist grants nothing.
        g.add_binding(bind("t", "b", ("Role", "missing"), vec![sa("t", "x")]));
        let x = Identity::service_account("t", "x", "");
        assert!(!g.allows(&x, &jobs("list", "t")).allowed);
        g.add_role("t", "missing", vec![rule(&["batch"], &["jobs"], &["list"])]);
        assert!(g.allows(&x, &jobs("list", "t")).allowed);
        // Everyone with a token reads discovery and asks what they may do.
        assert!(
            g.allows(&x, &Attributes::non_resource("get", "/apis"))
                .allowed
        );
        let review = Attributes::resource(
            "create",
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "",
            "",
        );
        assert!(g.allows(&x, &review).allowed);
        assert_eq!(g.rules_of(&x, "t").len(), 1 + defaults::basic_rules().len());
    }
}
