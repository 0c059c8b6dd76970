//! What a request asks to do, in RBAC's terms: a verb on a resource (its
//! API group, plural, subresource, namespace and name) or on a
//! non-resource path, read from the method and path as Kubernetes' API
//! server reads them — for every path, served or not, so that a refusal
//! never depends on whether the thing exists.

/// What a request asks to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`; for a non-resource path the lower-case method.
    pub verb: String,
    /// The resource asked about; `None` for a non-resource path.
    pub resource: Option<Resource>,
    /// The request's path.
    pub path: String,
}

/// A resource a request names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resource {
    /// `""` for the core group.
    pub group: String,
    /// The plural: `jobs`.
    pub resource: String,
    /// `log`, `status`, `token`, or empty.
    pub subresource: String,
    /// Empty for a cluster-wide request.
    pub namespace: String,
    /// Empty for a collection.
    pub name: String,
}

impl Attributes {
    /// A request for `verb` on `resource` (`jobs`, or `pods/log`) of `group`.
    pub fn resource(verb: &str, group: &str, resource: &str, namespace: &str, name: &str) -> Self {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        Attributes {
            verb: verb.to_owned(),
            resource: Some(Resource {
                group: group.to_owned(),
                resource: resource.to_owned(),
                subresource: subresource.to_owned(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            }),
            path: String::new(),
        }
    }

    /// A request for `verb` on the non-resource `path`.
    pub fn non_resource(verb: &str, path: &str) -> Self {
        Attributes {
            verb: verb.to_owned(),
            resource: None,
            path: path.to_owned(),
        }
    }

    /// Reads a Kubernetes API request: `method` on `path`, `watch` asked in
    /// the query. Paths under `/api/v1/` and `/apis/GROUP/VERSION/` name
    /// resources; every other path (discovery, `/version`, `/healthz`) is a
    /// non-resource request.
    pub fn of_request(method: &str, path: &str, watch: bool) -> Self {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let (group, rest) = match parts.as_slice() {
            ["api", _version, rest @ ..] if !rest.is_empty() => ("", rest),
            ["apis", group, _version, rest @ ..] if !rest.is_empty() => (*group, rest),
            _ => {
                let verb = match method {
                    "HEAD" => "get".to_owned(),
                    other => other.to_ascii_lowercase(),
                };
                return Attributes::non_resource(&verb, path);
            }
        };
        // `namespaces/NS/PLURAL/…`, or a Namespace itself (`namespaces/NS`).
        // `namespaces/NS/status` and `/finalize` are a Namespace's own.
        let (namespace, rest): (&str, &[&str]) = match rest {
            ["namespaces", ns, more @ ..]
                if !more.is_empty() && !matches!(more[0], "status" | "finalize") =>
            {
                (ns, more)
            }
            _ => ("", rest),
        };
        let mut resource = Resource {
            group: group.to_owned(),
            resource: rest[0].to_owned(),
            subresource: rest.get(2).copied().unwrap_or("").to_owned(),
            namespace: namespace.to_owned(),
            name: rest.get(1).copied().unwrap_or("").to_owned(),
        };
        // A Namespace is asked about in its own name.
        if resource.resource == "namespaces" && !resource.name.is_empty() {
            resource.namespace = resource.name.clone();
        }
        let one = !resource.name.is_empty();
        let verb = match (method, one) {
            ("GET" | "HEAD", _) if watch => "watch",
            ("GET" | "HEAD", false) => "list",
            ("GET" | "HEAD", true) => "get",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", false) => "deletecollection",
            ("DELETE", true) => "delete",
            (other, _) => return Attributes::non_resource(&other.to_ascii_lowercase(), path),
        };
        Attributes {
            verb: verb.to_owned(),
            resource: Some(resource),
            path: path.to_owned(),
        }
    }

    /// Kubernetes' words for what was refused, as in `jobs.batch "pi" is
    /// forbidden: User "u" cannot delete resource "jobs" in API group
    /// "batch" in the namespace "team"`.
    pub fn forbidden(&self, user: &str) -> String {
        let Some(r) = &self.resource else {
            return format!(
                "forbidden: User {user:?} cannot {} path {:?}",
                self.verb, self.path
            );
        };
        let qualified = match r.group.as_str() {
            "" => r.resource.clone(),
            group => format!("{}.{group}", r.resource),
        };
        let what = match r.name.as_str() {
            "" => format!("{qualified} is forbidden"),
            name => format!("{qualified} {name:?} is forbidden"),
        };
        let resource = match r.subresource.as_str() {
            "" => r.resource.clone(),
            sub => format!("{}/{sub}", r.resource),
        };
        let scope = match r.namespace.as_str() {
            "" => "at the cluster scope".to_owned(),
            ns => format!("in the namespace {ns:?}"),
        };
        format!(
            "{what}: User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}",
            self.verb, r.group
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(method: &str, path: &str) -> Attributes {
        Attributes::of_request(method, path, false)
    }

    #[test]
    fn paths_read_as_the_api_server_reads_them() {
        assert_eq!(
            of("GET", "/apis/batch/v1/namespaces/team/jobs"),
            Attributes {
                path: "/apis/batch/v1/namespaces/team/jobs".into(),
                ..Attributes::resource("list", "batch", "jobs", "team", "")
            }
        );
        let log = of("GET", "/api/v1/namespaces/team/pods/pi-x/log");
        assert_eq!(log.verb, "get");
        let r = log.resource.unwrap();
        assert_eq!(
            (r.resource.as_str(), r.subresource.as_str()),
            ("pods", "log")
        );
        assert_eq!((r.namespace.as_str(), r.name.as_str()), ("team", "pi-x"));
        assert_eq!(
            of("DELETE", "/apis/batch/v1/namespaces/t/jobs").verb,
            "deletecollection"
        );
        assert_eq!(
            of("DELETE", "/apis/batch/v1/namespaces/t/jobs/pi").verb,
            "delete"
        );
        assert_eq!(of("PATCH", "/api/v1/nodes/n1").verb, "patch");
        assert_eq!(
            of("PUT", "/api/v1/nodes/n1").resource.unwrap().namespace,
            ""
        );
        let watch = Attributes::of_request("GET", "/apis/batch/v1/jobs", true);
        assert_eq!(watch.verb, "watch");
        // A Namespace is in itself; the list of them at the cluster scope.
        assert_eq!(
            of("GET", "/api/v1/namespaces/team")
                .resource
                .unwrap()
                .namespace,
            "team"
        );
        assert_eq!(
            of("GET", "/api/v1/namespaces").resource.unwrap().namespace,
            ""
        );
        let token = of("POST", "/api/v1/namespaces/t/serviceaccounts/ci/token");
        assert_eq!(token.verb, "create");
        assert_eq!(token.resource.unwrap().subresource, "token");
    }

    #[test]
    fn discovery_and_health_are_non_resource_paths() {
        for path in [
            "/api",
            "/apis",
            "/api/v1",
            "/apis/batch/v1",
            "/version",
            "/healthz",
        ] {
            let a = of("GET", path);
            assert!(a.resource.is_none(), "{path}");
            assert_eq!(a.verb, "get");
        }
        assert_eq!(of("POST", "/wasmjob/v1/commits").verb, "post");
    }

    #[test]
    fn a_refusal_is_worded_as_kubernetes_words_it() {
        let a = Attributes::resource("delete", "batch", "jobs", "team", "pi");
        assert_eq!(
            a.forbidden("system:serviceaccount:team:viewer"),
            "jobs.batch \"pi\" is forbidden: User \"system:serviceaccount:team:viewer\" cannot \
             delete resource \"jobs\" in API group \"batch\" in the namespace \"team\""
        );
        let a = Attributes::resource("list", "", "nodes", "", "");
        assert_eq!(
            a.forbidden("u"),
            "nodes is forbidden: User \"u\" cannot list resource \"nodes\" in API group \"\" \
             at the cluster scope"
        );
    }
}
