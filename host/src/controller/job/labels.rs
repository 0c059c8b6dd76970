//! What a Job's instance is called and labelled: Kubernetes' pod naming
//! (`<job>-<suffix>`, `<job>-<index>-<suffix>` when Indexed) and the labels
//! that tie a pod to its Job (`job-name`, `controller-uid`, each also under
//! `batch.kubernetes.io/`, and an Indexed Job's completion index) on top of
//! the template's own.

use std::collections::BTreeMap;

use crate::manifest::well_known::{COMPLETION_INDEX, CONTROLLER_UID, JOB_NAME};

/// The labels of an instance of the Job `job_name` (uid `job_uid`), made
/// from its template's `template` labels, which the Job's own override.
pub fn instance_labels(
    template: &BTreeMap<String, String>,
    job_name: &str,
    job_uid: &str,
    completion_index: Option<u32>,
) -> BTreeMap<String, String> {
    let mut labels = template.clone();
    for key in JOB_NAME {
        labels.insert(key.to_owned(), job_name.to_owned());
    }
    for key in CONTROLLER_UID {
        labels.insert(key.to_owned(), job_uid.to_owned());
    }
    if let Some(index) = completion_index {
        labels.insert(COMPLETION_INDEX.to_owned(), index.to_string());
    }
    labels
}

/// The name of an instance of `job_name` whose random part is `suffix`.
pub fn instance_name(job_name: &str, completion_index: Option<u32>, suffix: &str) -> String {
    match completion_index {
        Some(i) => format!("{job_name}-{i}-{suffix}"),
        None => format!("{job_name}-{suffix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_carries_its_template_labels_and_its_jobs() {
        let template = BTreeMap::from([("app".to_owned(), "pi".to_owned())]);
        let labels = instance_labels(&template, "pi", "uid-1", Some(7));
        assert_eq!(labels["app"], "pi");
        assert_eq!(labels["job-name"], "pi");
        assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
        assert_eq!(labels["controller-uid"], "uid-1");
        assert_eq!(labels["batch.kubernetes.io/job-completion-index"], "7");
        assert_eq!(instance_name("pi", Some(7), "abcde"), "pi-7-abcde");
        assert_eq!(instance_name("pi", None, "abcde"), "pi-abcde");
    }
}
