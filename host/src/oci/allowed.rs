//! A node's list of allowed registries (`serve --allowed-registries`):
//! with it, the node runs only modules of registry images whose reference
//! is under one of the prefixes — a registry (`ghcr.io`) or a repository
//! path in one (`ghcr.io/team`, matched at a `/`). The list is checked on
//! the reference as Kubernetes reads it, so `report` is
//! `docker.io/library/report` and `docker.io` allows it.

use super::normalize;

/// The prefixes a node allows images under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedRegistries(Vec<String>);

impl AllowedRegistries {
    /// The list given as `--allowed-registries`; `None` when it is empty
    /// (every image and file allowed, the default). A prefix with a
    /// scheme, a tag or a digest is refused, naming it.
    pub fn parse(prefixes: &[String]) -> Result<Option<Self>, String> {
        let mut allowed = Vec::new();
        for prefix in prefixes.iter().map(|p| p.trim().trim_end_matches('/')) {
            if prefix.is_empty() {
                continue;
            }
            if prefix.contains("://") || prefix.contains('@') {
                return Err(format!(
                    "{prefix:?} is not a registry or repository prefix: write it as \
                     host[:port][/path], without a scheme or digest"
                ));
            }
            allowed.push(prefix.to_ascii_lowercase());
        }
        Ok((!allowed.is_empty()).then_some(AllowedRegistries(allowed)))
    }

    /// Whether the image `reference` is under one of the prefixes.
    pub fn allows(&self, reference: &str) -> bool {
        let Ok(parsed) = normalize(reference) else {
            return false;
        };
        let path = format!("{}/{}", parsed.registry(), parsed.repository()).to_ascii_lowercase();
        self.0.iter().any(|prefix| {
            path.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }

    /// The prefixes, as given (for messages).
    pub fn describe(&self) -> String {
        self.0.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(list: &[&str]) -> AllowedRegistries {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        AllowedRegistries::parse(&list).unwrap().unwrap()
    }

    #[test]
    fn a_prefix_matches_a_registry_or_a_repository_path_at_a_slash() {
        let list = allowed(&["127.0.0.1:5000", "ghcr.io/team/"]);
        assert!(list.allows("127.0.0.1:5000/demo/hello:1.0"));
        let by_digest = format!("ghcr.io/team/report@sha256:{}", "a".repeat(64));
        assert!(list.allows(&by_digest));
        assert!(list.allows("ghcr.io/team/sub/report:2"));
        assert!(!list.allows("ghcr.io/teamster/report:1"));
        assert!(!list.allows("ghcr.io/other/report:1"));
        assert!(!list.allows("127.0.0.1:5001/demo/hello:1.0"));
        assert!(!list.allows("Not A Reference"));
    }

    #[test]
    fn short_names_are_docker_hubs() {
        let list = allowed(&["docker.io/library"]);
        assert!(list.allows("report"));
        assert!(!list.allows("team/report"));
    }

    #[test]
    fn an_empty_list_allows_everything_and_a_scheme_is_refused() {
        assert_eq!(AllowedRegistries::parse(&[" ".into()]), Ok(None));
        let refused = AllowedRegistries::parse(&["https://ghcr.io".into()]).unwrap_err();
        assert!(refused.contains("\"https://ghcr.io\""), "{refused}");
    }
}
