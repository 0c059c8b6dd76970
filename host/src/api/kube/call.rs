//! A request to a resource of the Kubernetes API: what its path names
//! (`Target`: resource, namespace, name, subresource), its query, and its
//! headers — what every handler of `kube` reads.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

use super::discovery::{self, Served};

/// The `Accept` header, or nothing.
pub(super) fn accept(headers: &HeaderMap) -> &str {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// What a request's path names: a resource, maybe in a namespace, maybe
/// one object of it, maybe a subresource of that object.
#[derive(Debug)]
pub(super) struct Target {
    pub(super) served: &'static Served,
    pub(super) namespace: Option<String>,
    pub(super) name: Option<String>,
    pub(super) sub: Option<String>,
}

/// A request to a resource path, its query as given.
pub(super) struct Call {
    pub(super) target: Target,
    /// Who asks.
    pub(super) who: crate::access::Identity,
    pub(super) query: HashMap<String, String>,
    pub(super) headers: HeaderMap,
}

impl Call {
    pub(super) fn param(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }

    pub(super) fn flag(&self, key: &str) -> bool {
        matches!(self.param(key), Some("true" | "1"))
    }
}

/// `[namespaces/NS/]PLURAL[/NAME[/SUB]]` of a group version.
pub(super) fn parse_target(group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, more @ ..] if !matches!(*plural, "status" | "finalize") => {
            (Some((*ns).to_owned()), [&[*plural][..], more].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let served = discovery::find(group, version, rest.first()?)?;
    if namespace.is_some() && !served.namespaced {
        return None;
    }
    let name = rest.get(1).map(|n| (*n).to_owned());
    let sub = rest.get(2).map(|s| (*s).to_owned());
    if rest.len() > 3
        || sub
            .as_ref()
            .is_some_and(|s| !served.subresources.contains(&s.as_str()))
    {
        return None;
    }
    Some(Target {
        served,
        namespace,
        name,
        sub,
    })
}
