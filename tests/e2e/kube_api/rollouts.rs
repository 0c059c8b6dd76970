//! A DaemonSet's history: `kubectl rollout history|undo` (and wasmjob's
//! own) over the ControllerRevisions the node keeps, `metadata.generation`
//! and `status.observedGeneration`, pruning past `revisionHistoryLimit`,
//! and the revisions going with their DaemonSet.

use super::*;

#[test]
fn kubectl_lists_and_undoes_a_daemonsets_revisions() {
    let Some(k) = kubectl() else { return };
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let kubectl = |args: &[&str]| ok(s.kubectl(&k, args)).stdout;
    let wasmjob = |args: &[&str]| {
        let ran = s.client(&server, args);
        assert_eq!(ran.code, 0, "{args:?}: {ran:?}");
        ran.stdout
    };
    let history = || kubectl(&["rollout", "history", "ds/mon"]);
    let settled = || {
        kubectl(&["rollout", "status", "ds/mon", "--timeout=60s"]);
        kubectl(&[
            "get",
            "ds",
            "mon",
            "-o",
            "jsonpath={.metadata.generation}/{.status.observedGeneration}",
        ])
    };
    // The hash of the template the running instance was made from.
    let running_hash = || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let path = "{.items[*].metadata.labels.controller-revision-hash}";
            let hashes = running_mon(&s, &k, path);
            if !hashes.is_empty() && !hashes.contains(' ') {
                return hashes;
            }
            assert!(std::time::Instant::now() < deadline, "{hashes:?}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };

    s.write(
        "ds.yaml",
        &sleeping_daemonset("  revisionHistoryLimit: 1\n"),
    );
    kubectl(&["apply", "-f", "ds.yaml"]);
    assert_eq!(settled(), "1/1");
    assert_eq!(
        history(),
        "daemonset.apps/mon \nREVISION  CHANGE-CAUSE\n1         <none>\n\n"
    );
    let first = running_hash();
    let revisions = kubectl(&["get", "controllerrevisions"]);
    assert!(
        revisions.starts_with("NAME") && revisions.contains(&format!("mon-{first}")),
        "{revisions}"
    );
    assert!(revisions.contains("daemonset.apps/mon"), "{revisions}");

    kubectl(&["rollout", "restart", "ds/mon"]);
    assert_eq!(settled(), "2/2");
    assert!(history().ends_with("1         <none>\n2         <none>\n\n"));
    let second = running_hash();
    assert_ne!(first, second);

    // Back to the first template: its revision takes the next number.
    assert_eq!(
        kubectl(&["rollout", "undo", "ds/mon"]),
        "daemonset.apps/mon rolled back\n"
    );
    assert_eq!(settled(), "3/3");
    assert!(history().ends_with("2         <none>\n3         <none>\n\n"));
    assert_eq!(running_hash(), first);
    let shown = kubectl(&["rollout", "history", "ds/mon", "--revision=3"]);
    assert!(shown.contains("Pod Template:"), "{shown}");
    let missing = s.kubectl(&k, &["rollout", "undo", "ds/mon", "--to-revision=9"]);
    assert_ne!(missing.code, 0);
    assert!(
        missing
            .stderr
            .contains("unable to find specified revision 9 in history"),
        "{missing:?}"
    );

    // wasmjob's own verbs read the same revisions. A new template past
    // revisionHistoryLimit (1) drops the oldest that is not current.
    wasmjob(&["rollout", "restart", "ds/mon"]);
    wasmjob(&["rollout", "status", "ds/mon", "--timeout=60s"]);
    assert_eq!(
        wasmjob(&["rollout", "history", "ds/mon"]),
        "daemonset.apps/mon\nREVISION  CHANGE-CAUSE\n3         <none>\n4         <none>\n"
    );
    assert_eq!(
        wasmjob(&["rollout", "undo", "ds/mon", "--to-revision=3"]),
        "daemonset.apps/mon rolled back\n"
    );
    wasmjob(&["rollout", "status", "ds/mon", "--timeout=60s"]);
    assert_eq!(running_hash(), first);
    assert_eq!(
        wasmjob(&["rollout", "undo", "ds/mon", "--to-revision=5"]),
        "daemonset.apps/mon skipped rollback (current template already matches revision 5)\n"
    );
    let gone = s.client(&server, &["rollout", "undo", "ds/mon", "--to-revision=1"]);
    assert_eq!(gone.code, 1, "{gone:?}");
    assert!(
        gone.stderr
            .contains("unable to find specified revision 1 in history"),
        "{gone:?}"
    );

    // Revisions are the controller's: not created by hand; they go with
    // their DaemonSet.
    s.write(
        "revision.yaml",
        "apiVersion: apps/v1\nkind: ControllerRevision\nmetadata:\n  name: x\nrevision: 1\n",
    );
    let refused = s.kubectl(&k, &["create", "-f", "revision.yaml"]);
    assert!(
        refused.stderr.contains("MethodNotAllowed")
            && refused.stderr.contains("kubectl rollout undo"),
        "{refused:?}"
    );
    kubectl(&["delete", "ds", "mon"]);
    let left = s.kubectl(&k, &["get", "controllerrevisions"]);
    assert_eq!(left.stdout, "", "{left:?}");
    assert!(left.stderr.contains("No resources found"), "{left:?}");
}
