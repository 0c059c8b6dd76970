//! A DaemonSet's history: one `apps/v1` ControllerRevision per template it
//! has run, numbered in the order they became current, which `kubectl
//! rollout history` lists and `kubectl rollout undo` patches back. As the
//! DaemonSet controller keeps it: a template that becomes current again
//! takes the next number instead of a second revision, and the oldest
//! revisions beyond `revisionHistoryLimit` (10 unless set) go.
//!
//! Pure: (the current template's hash, the revisions kept) → the changes.

use serde_json::{Value, json};

use crate::manifest::well_known::REVISION_LABEL;
use crate::manifest::{APPS_V1, DaemonSet};

/// `revisionHistoryLimit` when the DaemonSet does not set it.
pub const DEFAULT_HISTORY_LIMIT: usize = 10;

/// A stored revision of the DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The ControllerRevision's uid.
    pub uid: String,
    /// The template hash it holds (`controller-revision-hash`).
    pub hash: String,
    /// Its number.
    pub revision: i64,
}

impl Kept {
    /// The revision a stored ControllerRevision manifest holds, if it is
    /// one of the DaemonSet `owner`'s.
    pub fn of(uid: &str, manifest: &Value, owner: &str) -> Option<Kept> {
        let owned = manifest["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner));
        let hash = manifest["metadata"]["labels"][REVISION_LABEL].as_str()?;
        owned.then(|| Kept {
            uid: uid.to_owned(),
            hash: hash.to_owned(),
            revision: manifest["revision"].as_i64().unwrap_or(0),
        })
    }
}

/// What keeping the history does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new revision for the current template.
    Create {
        /// The template's hash.
        hash: String,
        /// Its number.
        revision: i64,
    },
    /// The current template was an older revision: it takes the next
    /// number.
    Renumber {
        /// The revision.
        uid: String,
        /// Its new number.
        revision: i64,
    },
    /// A revision past the limit.
    Delete {
        /// The revision.
        uid: String,
    },
}

/// The changes that make `kept` the history of a DaemonSet whose template
/// hashes to `current`, keeping at most `limit` revisions besides the
/// current one.
pub fn record(current: &str, kept: &[Kept], limit: usize) -> Vec<Change> {
    let newest = kept.iter().map(|k| k.revision).max().unwrap_or(0);
    let mut changes = Vec::new();
    match kept.iter().find(|k| k.hash == current) {
        Some(k) if k.revision < newest => changes.push(Change::Renumber {
            uid: k.uid.clone(),
            revision: newest + 1,
        }),
        Some(_) => {}
        None => changes.push(Change::Create {
            hash: current.to_owned(),
            revision: newest + 1,
        }),
    }
    let mut old: Vec<&Kept> = kept.iter().filter(|k| k.hash != current).collect();
    old.sort_by_key(|k| k.revision);
    let excess = old.len().saturating_sub(limit);
    changes.extend(
        old[..excess]
            .iter()
            .map(|k| Change::Delete { uid: k.uid.clone() }),
    );
    changes
}

/// The DaemonSet's `revisionHistoryLimit`.
pub fn limit(ds: &DaemonSet) -> usize {
    ds.spec
        .revision_history_limit
        .map_or(DEFAULT_HISTORY_LIMIT, |n| n.max(0) as usize)
}

/// The name of the DaemonSet's revision of template hash `hash`.
pub fn name(ds: &DaemonSet, hash: &str) -> String {
    format!("{}-{hash}", ds.metadata.name)
}

/// The stored manifest of revision `revision` of the DaemonSet `uid`
/// (whose template hashes to `hash`): the template's labels and the hash
/// as labels, the DaemonSet's annotations (`kubernetes.io/change-cause`
/// is what `rollout history` shows), the DaemonSet as controller, and as
/// `data` the strategic merge patch that puts the template back, which is
/// what `kubectl rollout undo` sends.
pub fn manifest(ds: &DaemonSet, uid: &str, hash: &str, revision: i64) -> Value {
    let mut labels = ds.spec.template.metadata.labels.clone();
    labels.insert(REVISION_LABEL.into(), hash.to_owned());
    let mut template = json!(ds.spec.template);
    template["$patch"] = json!("replace");
    let mut metadata = json!({
        "name": name(ds, hash),
        "namespace": ds.metadata.namespace,
        "labels": labels,
        "ownerReferences": [{
            "apiVersion": APPS_V1,
            "kind": "DaemonSet",
            "name": ds.metadata.name,
            "uid": uid,
            "controller": true,
            "blockOwnerDeletion": true,
        }],
    });
    if !ds.metadata.annotations.is_empty() {
        metadata["annotations"] = json!(ds.metadata.annotations);
    }
    json!({
        "metadata": metadata,
        "data": {"spec": {"template": template}},
        "revision": revision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(uid: &str, hash: &str, revision: i64) -> Kept {
        Kept {
            uid: uid.into(),
            hash: hash.into(),
            revision,
        }
    }

    #[test]
    fn a_new_template_is_the_next_revision() {
        assert_eq!(
            record("a", &[], 10),
            [Change::Create {
                hash: "a".into(),
                revision: 1
            }]
        );
        let history = [kept("1", "a", 1), kept("2", "b", 2)];
        assert_eq!(
            record("c", &history, 10),
            [Change::Create {
                hash: "c".into(),
                revision: 3
            }]
        );
        // The current template already is the newest revision.
        assert_eq!(record("b", &history, 10), []);
    }

    #[test]
    fn a_template_current_again_takes_the_next_number() {
        let history = [kept("1", "a", 1), kept("2", "b", 2)];
        assert_eq!(
            record("a", &history, 10),
            [Change::Renumber {
                uid: "1".into(),
                revision: 3
            }]
        );
    }

    #[test]
    fn the_oldest_revisions_past_the_limit_go() {
        let history = [kept("3", "c", 3), kept("1", "a", 1), kept("2", "b", 2)];
        assert_eq!(
            record("d", &history, 2),
            [
                Change::Create {
                    hash: "d".into(),
                    revision: 4
                },
                Change::Delete { uid: "1".into() },
            ]
        );
        // The current one is never counted, nor deleted.
        assert_eq!(
            record("a", &history, 0),
            [
                Change::Renumber {
                    uid: "1".into(),
                    revision: 4
                },
                Change::Delete { uid: "2".into() },
                Change::Delete { uid: "3".into() },
            ]
        );
    }

    #[test]
    fn a_revision_names_its_daemonset_as_controller_and_patches_the_template_back() {
        let mut ds = DaemonSet {
            metadata: Default::default(),
            spec: Default::default(),
        };
        ds.metadata.name = "mon".into();
        ds.metadata.namespace = "default".into();
        ds.spec
            .template
            .metadata
            .labels
            .insert("app".into(), "mon".into());
        let m = manifest(&ds, "ds-uid", "abc", 2);
        assert_eq!(m["metadata"]["name"], "mon-abc");
        assert_eq!(m["metadata"]["labels"]["controller-revision-hash"], "abc");
        assert_eq!(m["metadata"]["labels"]["app"], "mon");
        assert_eq!(m["revision"], 2);
        assert_eq!(m["data"]["spec"]["template"]["$patch"], "replace");
        let found = Kept::of("cr", &m, "ds-uid");
        assert_eq!(found, Some(kept("cr", "abc", 2)));
        assert_eq!(Kept::of("cr", &m, "another"), None);
    }
}
