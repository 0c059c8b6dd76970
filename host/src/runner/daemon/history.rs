//! The writes that keep a DaemonSet's ControllerRevisions as its template
//! changes (see `controller::daemonset::history`): a revision created for
//! a new template, renumbered for a template current again, deleted past
//! `revisionHistoryLimit`, and every one deleted with the DaemonSet.

use crate::controller::daemonset::history::{self, Change, Kept};
use crate::controller::daemonset::revision_of;
use crate::ids;
use crate::manifest::{DaemonSet, Kind};
use crate::store::{ControlPlane, ObjectRecord, Store, StoreError, Write};
use crate::time::Micros;

/// The live ControllerRevisions: the cluster's, in a cluster.
pub(in crate::runner) fn revisions(
    control: Option<&dyn ControlPlane>,
    store: &Store,
) -> Result<Vec<ObjectRecord>, StoreError> {
    match control {
        Some(control) => control.live_objects(Kind::ControllerRevision),
        None => store.live_objects(Kind::ControllerRevision, None),
    }
}

/// What recording `ds` (stored as `uid`) as current writes, given the live
/// `revisions`.
pub(in crate::runner) fn writes(
    ds: &DaemonSet,
    uid: &str,
    revisions: &[ObjectRecord],
    now: Micros,
) -> Vec<Write> {
    let kept: Vec<Kept> = revisions
        .iter()
        .filter_map(|r| Kept::of(&r.uid, &r.manifest, uid))
        .collect();
    let current = revision_of(&ds.spec.template);
    let changes = history::record(&current, &kept, history::limit(ds));
    changes
        .into_iter()
        .map(|change| match change {
            Change::Create { hash, revision } => {
                let manifest = history::manifest(ds, uid, &hash, revision);
                Write::ObjectCreated(ObjectRecord {
                    uid: ids::uid(),
                    kind: Kind::ControllerRevision,
                    namespace: ds.metadata.namespace.clone(),
                    name: history::name(ds, &hash),
                    labels: labels_of(&manifest),
                    manifest,
                    status: serde_json::json!({}),
                    created_at: now,
                    deleted_at: None,
                })
            }
            Change::Renumber { uid: rev, revision } => {
                let manifest = history::manifest(ds, uid, &current, revision);
                Write::ObjectManifest {
                    uid: rev,
                    labels: labels_of(&manifest),
                    manifest,
                }
            }
            Change::Delete { uid } => Write::ObjectDeleted { uid, at: now },
        })
        .collect()
}

/// The uids of the revisions of the DaemonSets among `owners`.
pub(in crate::runner) fn owned_by(revisions: &[ObjectRecord], owners: &[String]) -> Vec<String> {
    revisions
        .iter()
        .filter(|r| {
            owners
                .iter()
                .any(|owner| Kept::of(&r.uid, &r.manifest, owner).is_some())
        })
        .map(|r| r.uid.clone())
        .collect()
}

fn labels_of(manifest: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    serde_json::from_value(manifest["metadata"]["labels"].clone()).unwrap_or_default()
}
