//! Registry images on a fleet's nodes (issue 33). In a cluster the node a
//! Job is applied to keeps the module it was sent, but the cluster's
//! database does not; a node that runs the Job's instances pulls the
//! pinned reference for itself, as every kubelet does, and checks it
//! against the digest. A node given `--allowed-registries` runs only
//! images under them, each pulled and checked by the node itself.

use std::path::Path;

use wasmjob_tests::{PgDatabase, Registry, Server, Session, dist, job_yaml};

use super::cluster::{cluster, job_rows};
use super::registry::push_hello;

#[test]
fn each_node_of_a_cluster_pulls_a_registry_image_for_itself() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = cluster(&db, &[("n1", "disk=nvme"), ("n2", "disk=hdd")], &[]);
    // Applied through n2, which does not match: n1 runs every instance.
    let (s, second) = (&nodes[1].session, &nodes[1].server);
    let reference = format!("{}/demo/spread:1.0", registry.address);
    let pinned = push_hello(s, &reference);
    let yaml = job_yaml(
        "spread",
        std::path::Path::new(&reference),
        &[],
        "  completions: 4\n  parallelism: 2",
        "      nodeSelector:\n        disk: nvme\n",
    );
    s.write("job.yaml", &yaml);
    let applied = s.client(second, &["apply", "-f", "job.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let job = s.wait_finished(second, "spread");
    assert_eq!(job["status"]["succeeded"], 4, "{job}");
    let rows = job_rows(&db, "spread");
    assert!(
        rows.len() == 4 && rows.iter().all(|r| r.2 == nodes[0].name),
        "{rows:?}"
    );
    // The module's bytes never went through the database.
    let digest = job["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(digest.starts_with("sha256:"), "{job}");
    let count: i64 = db
        .client()
        .query_one("SELECT count(*) FROM modules WHERE digest = $1", &[&digest])
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "the cluster's database holds no registry module");
    // n1 pulled it by its pinned reference, into its own cache.
    let listed = nodes[0].session.wasmjob(&["images"]);
    assert!(
        listed.stdout.contains(&format!("{reference}@sha256:")),
        "{listed:?}"
    );
    assert!(pinned.starts_with(&reference), "{pinned}");
    let logs = s.client(second, &["logs", "job/spread"]);
    assert!(logs.stdout.contains("Hello from wasmjob"), "{logs:?}");
}

#[test]
fn a_node_that_allows_some_registries_runs_only_their_images_checked_by_digest() {
    let Some(registry) = Registry::start() else {
        return;
    };
    let s = Session::new();
    let reference = format!("{}/team/hello:1.0", registry.address);
    let pinned = push_hello(&s, &reference);
    let other = format!("{}/other/hello:1.0", registry.address);
    push_hello(&s, &other);
    let allowed = format!("{}/team", registry.address);
    let server = Server::start(&s, &["--allowed-registries", &allowed]);
    s.write(
        "ok.yaml",
        &job_yaml("ok", Path::new(&reference), &[], "", ""),
    );
    let applied = s.client(&server, &["apply", "-f", "ok.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let done = s.wait_finished(&server, "ok");
    assert_eq!(done["status"]["succeeded"], 1, "{done}");

    // Another repository, a file, a digest the pinned image does not hold:
    // refused, naming what is wrong, and nothing stored.
    let refusals = [
        (
            "other",
            job_yaml("other", Path::new(&other), &[], "", ""),
            format!("{other}@sha256:"),
        ),
        (
            "file",
            job_yaml("file", &dist("hello.wasm"), &[], "", ""),
            "a module not pulled from a registry (a file, or a stored digest) is not allowed"
                .to_owned(),
        ),
        (
            "forged",
            job_yaml(
                "forged",
                Path::new(&format!("sha256:{}", "a".repeat(64))),
                &[],
                "",
                "",
            )
            .replace(
                "  template:\n    spec:\n",
                &format!(
                    "  template:\n    metadata:\n      annotations:\n        \
                     image.wasmjob.dev/main: {pinned}\n    spec:\n"
                ),
            ),
            format!("{pinned} holds the module sha256:"),
        ),
    ];
    for (name, yaml, said) in refusals {
        s.write("refused.yaml", &yaml);
        let refused = s.client(&server, &["apply", "-f", "refused.yaml"]);
        assert_eq!(refused.code, 2, "{name}: {refused:?}");
        assert!(refused.stderr.contains(&said), "{name}: {}", refused.stderr);
        let absent = s.client(&server, &["get", "jobs", name]);
        assert_ne!(absent.code, 0, "{name}: {absent:?}");
    }
    let listed = s.client(&server, &["get", "jobs", "other"]);
    assert_ne!(listed.code, 0);
    let refused = s.wasmjob(&["serve", "--allowed-registries", "https://ghcr.io"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("--allowed-registries: \"https://ghcr.io\" is not a registry"),
        "{}",
        refused.stderr
    );
}
