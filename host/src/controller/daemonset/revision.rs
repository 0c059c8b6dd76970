//! A DaemonSet's template revisions and updates: the short hash of the
//! template an instance runs (`controller-revision-hash`, so that a rolling
//! update knows which instances are old), the labels a new instance gets,
//! and which fields an update may change (all but `spec.selector`).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::manifest::well_known::{CONTROLLER_UID, REVISION_LABEL};
use crate::manifest::{DaemonSetSpec, PodTemplateSpec};

/// A short hash of the template: instances of another revision are
/// replaced by the update strategy.
pub fn revision_of(template: &PodTemplateSpec) -> String {
    let text = serde_json::to_string(template).expect("templates serialize");
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..5])
}

/// The labels of a new instance of the DaemonSet `uid` running `revision`
/// of `template`.
pub fn instance_labels(
    template: &PodTemplateSpec,
    revision: &str,
    uid: &str,
) -> BTreeMap<String, String> {
    let mut labels = template.metadata.labels.clone();
    labels.insert(REVISION_LABEL.into(), revision.to_owned());
    labels.insert(CONTROLLER_UID[0].into(), uid.to_owned());
    labels
}

/// `Ok` when an update may change `old` into `new`; otherwise the path of
/// the immutable field that differs.
pub fn check_update(new: &DaemonSetSpec, old: &DaemonSetSpec) -> Result<(), &'static str> {
    if new.selector != old.selector {
        return Err("spec.selector");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_template_is_a_new_revision_and_the_selector_is_immutable() {
        let template = PodTemplateSpec::default();
        let mut changed = template.clone();
        changed.metadata.labels.insert("v".into(), "2".into());
        assert_eq!(revision_of(&template), revision_of(&template.clone()));
        assert_ne!(revision_of(&template), revision_of(&changed));
        assert_eq!(revision_of(&template).len(), 10);
        let labels = instance_labels(&changed, "abc", "uid-1");
        assert_eq!(labels["controller-revision-hash"], "abc");
        assert_eq!(labels["controller-uid"], "uid-1");
        assert_eq!(labels["v"], "2");
        let old = DaemonSetSpec::default();
        let mut new = old.clone();
        assert_eq!(check_update(&new, &old), Ok(()));
        new.selector = Some(Default::default());
        assert_eq!(check_update(&new, &old), Err("spec.selector"));
    }
}
