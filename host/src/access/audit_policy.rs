//! Which requests the audit log records, and how much of each: an
//! `audit.k8s.io/v1` Policy (`serve --audit-policy-file`), its rules
//! matched in order as Kubernetes matches them (users, groups, verbs,
//! resources, namespaces, non-resource URLs; the first that matches gives
//! the level). Without a file, every request but a read is recorded at
//! `Metadata`. Whatever the policy says, a refused request (401, 403) is
//! recorded at least at `Metadata`, and a Secret's or a token's body never.

use serde::Deserialize;

use super::request::Attributes;

/// How much of a request is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Level {
    /// Nothing.
    None,
    /// Who, what, when and the answer's code.
    Metadata,
    /// And the request's body.
    Request,
    /// And the answer's body, when it is a whole JSON object (see
    /// `api::audit`).
    RequestResponse,
}

impl Level {
    /// The level's name in an event.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

/// Resources a rule names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupResources {
    /// `""` for the core group.
    #[serde(default)]
    pub group: String,
    /// Plurals (`pods`, `pods/log`, `*/log`); none: every resource.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Only these objects, when given.
    #[serde(default)]
    pub resource_names: Vec<String>,
}

/// One rule: the level of the requests it matches.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// The level.
    pub level: Level,
    /// User names; none: anyone.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups; none: any.
    #[serde(default)]
    pub user_groups: Vec<String>,
    /// Verbs; none: any.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Resources; none: any resource request.
    #[serde(default)]
    pub resources: Vec<GroupResources>,
    /// Namespaces (`""` for cluster-scoped); none: any.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Non-resource paths (`/healthz`, `/api*`); none: any.
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
    /// Accepted: wasmjob records one stage, `ResponseComplete`.
    #[serde(default, rename = "omitStages")]
    _omit_stages: Option<serde::de::IgnoredAny>,
    /// Accepted and not applied.
    #[serde(default, rename = "omitManagedFields")]
    _omit_managed_fields: Option<serde::de::IgnoredAny>,
}

/// An audit policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    #[serde(default, rename = "apiVersion")]
    _api_version: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "kind")]
    _kind: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "metadata")]
    _metadata: Option<serde::de::IgnoredAny>,
    /// The rules, first match wins; a request no rule matches is not
    /// recorded.
    pub rules: Vec<Rule>,
    #[serde(default, rename = "omitStages")]
    _omit_stages: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "omitManagedFields")]
    _omit_managed_fields: Option<serde::de::IgnoredAny>,
}

impl Default for Policy {
    /// Every change and every other verb at `Metadata`; reads not at all.
    fn default() -> Self {
        let rule = |level, verbs: &[&str]| Rule {
            level,
            users: Vec::new(),
            user_groups: Vec::new(),
            verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
            resources: Vec::new(),
            namespaces: Vec::new(),
            non_resource_urls: Vec::new(),
            _omit_stages: None,
            _omit_managed_fields: None,
        };
        Policy {
            _api_version: None,
            _kind: None,
            _metadata: None,
            rules: vec![
                rule(Level::None, &["get", "list", "watch"]),
                rule(Level::Metadata, &[]),
            ],
            _omit_stages: None,
            _omit_managed_fields: None,
        }
    }
}

impl Policy {
    /// Reads a policy file's text: the field path of the first problem.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
        let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        if kind != "Policy" {
            return Err(format!("kind: expected Policy, got {kind:?}"));
        }
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            format!("{path}: {}", e.into_inner())
        })
    }

    /// The level of a request of `user` (in `groups`) asking `what`.
    pub fn level(&self, user: &str, groups: &[String], what: &Attributes) -> Level {
        self.rules
            .iter()
            .find(|rule| rule.matches(user, groups, what))
            .map_or(Level::None, |rule| rule.level)
    }
}

impl Rule {
    fn matches(&self, user: &str, groups: &[String], what: &Attributes) -> bool {
        let any =
            |list: &[String], wanted: &str| list.is_empty() || list.iter().any(|x| x == wanted);
        if !any(&self.users, user)
            || !(self.user_groups.is_empty() || groups.iter().any(|g| self.user_groups.contains(g)))
            || !any(&self.verbs, &what.verb)
        {
            return false;
        }
        match &what.resource {
            None => {
                // A rule naming resources or namespaces is for resources.
                if !self.resources.is_empty() || !self.namespaces.is_empty() {
                    return false;
                }
                self.non_resource_urls.is_empty()
                    || self.non_resource_urls.iter().any(|url| {
                        *url == what.path
                            || url
                                .strip_suffix('*')
                                .is_some_and(|prefix| what.path.starts_with(prefix))
                    })
            }
            Some(r) => {
                if !self.non_resource_urls.is_empty() || !any(&self.namespaces, &r.namespace) {
                    return false;
                }
                let combined = match r.subresource.as_str() {
                    "" => r.resource.clone(),
                    sub => format!("{}/{sub}", r.resource),
                };
                self.resources.is_empty()
                    || self.resources.iter().any(|g| {
                        g.group == r.group
                            && (g.resources.is_empty()
                                || g.resources.iter().any(|x| {
                                    *x == combined
                                        || *x == r.resource
                                        || x == "*"
                                        || x.strip_prefix("*/") == Some(r.subresource.as_str())
                                }))
                            && (g.resource_names.is_empty() || g.resource_names.contains(&r.name))
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(verb: &str, namespace: &str) -> Attributes {
        Attributes::resource(verb, "batch", "jobs", namespace, "")
    }

    #[test]
    fn by_default_changes_are_recorded_and_reads_are_not() {
        let p = Policy::default();
        assert_eq!(p.level("u", &[], &jobs("create", "t")), Level::Metadata);
        assert_eq!(
            p.level("u", &[], &jobs("deletecollection", "t")),
            Level::Metadata
        );
        assert_eq!(p.level("u", &[], &jobs("list", "t")), Level::None);
        assert_eq!(
            p.level("u", &[], &Attributes::non_resource("post", "/x")),
            Level::Metadata
        );
    }

    #[test]
    fn a_policy_file_is_matched_first_rule_first() {
        let p = Policy::parse(
            "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  users: [system:serviceaccount:ops:bot]
- level: RequestResponse
  resources: [{group: batch, resources: [jobs]}]
  namespaces: [team]
- level: Request
  userGroups: [system:serviceaccounts]
  verbs: [create, delete]
- level: Metadata
  nonResourceURLs: [/healthz*]
",
        )
        .unwrap();
        let groups = vec!["system:serviceaccounts".to_owned()];
        assert_eq!(
            p.level(
                "system:serviceaccount:ops:bot",
                &groups,
                &jobs("create", "team")
            ),
            Level::None
        );
        assert_eq!(
            p.level("x", &[], &jobs("get", "team")),
            Level::RequestResponse
        );
        assert_eq!(
            p.level("x", &groups, &jobs("create", "other")),
            Level::Request
        );
        assert_eq!(p.level("x", &[], &jobs("create", "other")), Level::None);
        let health = Attributes::non_resource("get", "/healthz");
        assert_eq!(p.level("x", &[], &health), Level::Metadata);
        let log = Attributes::resource("get", "", "pods/log", "team", "p");
        assert_eq!(p.level("x", &[], &log), Level::None);
    }

    #[test]
    fn a_bad_policy_names_its_field() {
        let e = Policy::parse("kind: Policy\nrules: [{level: Loud}]\n").unwrap_err();
        assert!(
            e.starts_with("rules[0].level: unknown variant `Loud`"),
            "{e}"
        );
        let e = Policy::parse("kind: Policy\nrules: [{level: None, user: [a]}]\n").unwrap_err();
        assert!(e.contains("unknown field `user`"), "{e}");
        assert!(Policy::parse("kind: Job\n").unwrap_err().contains("kind"));
    }
}
