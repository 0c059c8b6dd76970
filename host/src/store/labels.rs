//! How a row keeps the labels of a Job's instance.
//!
//! Every instance of a Job carries its template's labels plus four that
//! name the Job (`job-name` and `controller-uid`, each also under
//! `batch.kubernetes.io/`), and an Indexed Job's its completion index (the
//! rule is [`crate::controller::job::instance_labels`]): the same text, two
//! hundred bytes of it, in ten thousand rows of a Job of ten thousand
//! instances. A row keeps only the template's labels and the Job's name
//! (`labels_job`, schema 7); the rest is put back from the row's owner and
//! completion index when it is read. Labels that do not follow the rule (a
//! DaemonSet's instances, rows written before schema 7) are kept whole.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::manifest::well_known::{COMPLETION_INDEX, CONTROLLER_UID, JOB_NAME};

/// What a row keeps of `labels`: the template's labels and the Job's name,
/// when the rest is what the rule puts there for this owner and index.
pub(super) fn compact(
    labels: &BTreeMap<String, String>,
    owner_uid: &str,
    completion_index: Option<u32>,
) -> Option<(BTreeMap<String, String>, String)> {
    let job_name = labels.get(JOB_NAME[0])?;
    let index = completion_index.map(|i| i.to_string());
    let follows = labels.get(JOB_NAME[1]) == Some(job_name)
        && CONTROLLER_UID
            .iter()
            .all(|key| labels.get(*key).map(String::as_str) == Some(owner_uid))
        && labels.get(COMPLETION_INDEX) == index.as_ref();
    if !follows {
        return None;
    }
    let mut template = labels.clone();
    for key in JOB_NAME
        .iter()
        .chain(&CONTROLLER_UID)
        .chain([&COMPLETION_INDEX])
    {
        template.remove(*key);
    }
    Some((template, job_name.clone()))
}

/// The labels of a row that kept `template` and `job_name` (see
/// [`compact`]): what [`compact`] took out, put back.
pub(super) fn expand(
    template: &BTreeMap<String, String>,
    job_name: &str,
    owner_uid: &str,
    completion_index: Option<u32>,
) -> Arc<BTreeMap<String, String>> {
    let mut labels = template.clone();
    for key in JOB_NAME {
        labels.insert(key.to_owned(), job_name.to_owned());
    }
    for key in CONTROLLER_UID {
        labels.insert(key.to_owned(), owner_uid.to_owned());
    }
    if let Some(index) = completion_index {
        labels.insert(COMPLETION_INDEX.to_owned(), index.to_string());
    }
    Arc::new(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::job::instance_labels as job_instance;

    fn template() -> BTreeMap<String, String> {
        BTreeMap::from([("app".to_owned(), "pi".to_owned())])
    }

    #[test]
    fn a_job_instances_labels_are_kept_as_its_template_and_job_name() {
        for index in [None, Some(7)] {
            let labels = job_instance(&template(), "pi", "uid-1", index);
            assert_eq!(labels.len(), 5 + usize::from(index.is_some()));
            let (kept, job) = compact(&labels, "uid-1", index).unwrap();
            assert_eq!((&kept, job.as_str()), (&template(), "pi"));
            assert_eq!(*expand(&kept, &job, "uid-1", index), labels);
        }
    }

    #[test]
    fn labels_that_do_not_follow_the_rule_are_kept_whole() {
        let labels = job_instance(&template(), "pi", "uid-1", Some(7));
        // Another owner, another index, no index, a changed label.
        assert_eq!(compact(&labels, "uid-2", Some(7)), None);
        assert_eq!(compact(&labels, "uid-1", Some(8)), None);
        assert_eq!(compact(&labels, "uid-1", None), None);
        let mut changed = labels.clone();
        changed.insert("batch.kubernetes.io/job-name".into(), "other".into());
        assert_eq!(compact(&changed, "uid-1", Some(7)), None);
        // A DaemonSet's instance has no job-name.
        let daemon = BTreeMap::from([("controller-uid".to_owned(), "uid-1".to_owned())]);
        assert_eq!(compact(&daemon, "uid-1", None), None);
    }
}
