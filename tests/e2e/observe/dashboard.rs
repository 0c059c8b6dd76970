//! The web dashboard in a real headless Chromium: the login page is all a
//! browser without the session cookie gets; signed in, a Job's progress
//! reaches its end, a running instance's log grows on its page, a CronJob
//! suspended from the page is suspended for the API too. Each page's
//! screenshot is kept (`target/test-artefacts/dashboard/`).

use std::time::Duration;

use serde_json::json;
use wasmjob_tests::browser::Browser;
use wasmjob_tests::{Server, Session, in_namespace, job_yaml, program};

use super::token;

fn cronjob(name: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: CronJob
metadata:
  name: {name}
spec:
  schedule: \"*/2 * * * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: main
            image: {}
          restartPolicy: Never
",
        program("say-hello").display()
    )
}

/// Opens a page of the dashboard and waits until it is drawn (its title).
fn open(browser: &Browser, url: &str, title: &str) {
    browser.go(url);
    browser.wait_text("h1", 20, |t| t == title);
}

#[test]
fn the_dashboard_signs_in_shows_progress_live_logs_and_suspends_a_cronjob() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let s = Session::new();
    // TLS, as a node serves by default.
    let server = Server::start(&s, &[]);
    let base = format!("https://{}", server.address);

    // Without the cookie: the login page, and nothing else.
    browser.go(&format!("{base}/"));
    browser.wait_for("#token");
    browser.screenshot("login");
    browser.type_into("#token", "not-the-token");
    browser.click("#sign-in");
    browser.wait_text("#message", 10, |t| t.contains("neither this node's token"));
    browser.go(&format!("{base}/ui/app.js"));
    browser.wait_for("#token");

    // Signed in: the overview, with a session cookie scripts cannot read.
    browser.go(&format!("{base}/"));
    browser.type_into("#token", &token(&s));
    browser.click("#sign-in");
    browser.wait_for("#running-count");
    let cookies = browser.cookies();
    let session = cookies
        .iter()
        .find(|c| c["name"] == "wasmjob_session")
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["secure"], true, "{session}");
    assert_eq!(session["sameSite"], "Strict", "{session}");
    assert!(!session["value"].as_str().unwrap().contains(&token(&s)));
    let read = browser.run("return document.cookie", json!([]));
    assert_eq!(read, "", "a script read the cookie");

    // A Job's progress, live, to its end. It reads a Secret, whose value
    // is on no page.
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: hunter2-never-shown}\n---\n";
    let env = "        env:\n        - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}";
    s.write(
        "job.yaml",
        &(secret.to_owned()
            + &job_yaml(
                "progress",
                &program("sleep-ms"),
                &["400"],
                "  completions: 4\n  parallelism: 1",
                env,
            )),
    );
    open(
        &browser,
        &format!("{base}/#/jobs/default/progress"),
        "Job progress",
    );
    assert_eq!(s.client(&server, &["apply", "-f", "job.yaml"]).code, 0);
    browser.wait_text("#job-completions", 20, |t| t == "1/4" || t == "2/4");
    browser.wait_text("#job-completions", 30, |t| t == "4/4");
    browser.wait_text("#job-status", 10, |t| t.contains("Complete"));
    browser.screenshot("job");
    let html = browser.run("return document.documentElement.outerHTML", json!([]));
    assert!(
        !html.as_str().unwrap_or("").contains("hunter2"),
        "a secret on the page"
    );

    // Run again from the page: the Job anew, to its end again.
    browser.click("#retry");
    browser.wait_text("#job-completions", 20, |t| t == "0/4" || t == "1/4");
    browser.wait_text("#job-completions", 30, |t| t == "4/4");
    open(&browser, &format!("{base}/#/jobs"), "Jobs");
    browser.wait_text("main", 10, |t| t.contains("progress"));
    browser.screenshot("jobs");

    // A running instance's page: its log grows while the page stays.
    s.write(
        "ds.yaml",
        &super::logs::monitor("DaemonSet", "monitor", 1, 0),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "ds.yaml"]).code, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let pod = loop {
        let found = s.client(
            &server,
            &[
                "get",
                "instances",
                "-l",
                "app=monitor",
                "-o",
                "jsonpath={.items[0].metadata.name}",
            ],
        );
        if !found.stdout.is_empty() {
            break found.stdout;
        }
        assert!(std::time::Instant::now() < deadline, "{found:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    open(
        &browser,
        &format!("{base}/#/instances/default/{pod}"),
        &format!("Instance {pod}"),
    );
    browser.wait_text("#log", 20, |t| t.contains("beat=1"));
    browser.wait_text("#log", 20, |t| t.contains("beat=3"));
    browser.screenshot("instance");
    open(&browser, &format!("{base}/#/daemonsets"), "DaemonSets");
    browser.wait_text("main", 10, |t| t.contains(&pod) && t.contains("ready 1"));
    browser.screenshot("daemonsets");
    open(&browser, &format!("{base}/#/"), "Overview");
    browser.wait_text("#running-count", 10, |t| t == "1");
    browser.screenshot("overview");

    // A CronJob suspended from its page is suspended for the API.
    s.write("cron.yaml", &cronjob("every-two"));
    assert_eq!(s.client(&server, &["apply", "-f", "cron.yaml"]).code, 0);
    open(
        &browser,
        &format!("{base}/#/cronjobs/default/every-two"),
        "CronJob every-two",
    );
    browser.wait_text("main", 20, |t| t.contains("Succeeded"));
    browser.click("#suspend");
    browser.wait_text("#suspended", 10, |t| t == "yes");
    let suspended = s.client(
        &server,
        &[
            "get",
            "cronjob",
            "every-two",
            "-o",
            "jsonpath={.spec.suspend}",
        ],
    );
    assert_eq!(suspended.stdout, "true", "{suspended:?}");
    // Run now, though suspended: a Job from its template, as
    // `create job --from=cronjob/NAME` makes.
    browser.click("#run-now");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let jobs = s.client(&server, &["get", "jobs", "-o", "name"]);
        if jobs.stdout.contains("job.batch/every-two-manual-") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no manual run: {jobs:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    browser.screenshot("cronjob");
    open(&browser, &format!("{base}/#/cronjobs"), "CronJobs");
    browser.wait_text("main", 10, |t| t.contains("every-two"));
    browser.screenshot("cronjobs");
    open(&browser, &format!("{base}/#/events"), "Events");
    browser.wait_text("main", 10, |t| t.contains("SuccessfulCreate"));
    browser.screenshot("events");

    // A change with the cookie but not from the page's scripts is refused.
    let status = browser.run(
        "return fetch('/apis/batch/v1/namespaces/default/cronjobs/every-two', {method: 'PATCH', \
         headers: {'Content-Type': 'application/merge-patch+json'}, \
         body: JSON.stringify({spec: {suspend: false}})}).then(r => r.status)",
        json!([]),
    );
    assert_eq!(status, 403);

    // Delete from the page, once confirmed.
    open(
        &browser,
        &format!("{base}/#/jobs/default/progress"),
        "Job progress",
    );
    browser.click("#delete");
    browser.accept_alert();
    browser.wait_text("h1", 10, |t| t == "Jobs");
    let gone = s.client(&server, &["get", "job", "progress"]);
    assert_eq!(gone.code, 1, "{gone:?}");

    // Signed out (the cookie gone): the login page again.
    browser.clear_cookies();
    // A new document (only a new fragment would keep the page loaded).
    browser.go(&format!("{base}/?signed-out"));
    browser.wait_for("#token");
}

/// A ServiceAccount's token signs in too, and the page is what its grants
/// allow: `view` in one namespace lists that namespace's Jobs only and
/// draws no button it may not use.
#[test]
fn an_account_token_signs_in_to_its_namespace_without_buttons_it_may_not_use() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let base = format!("https://{}", server.address);
    let hello = program("say-hello");
    let job =
        |name: &str, namespace: &str| in_namespace(&job_yaml(name, &hello, &[], "", ""), namespace);
    let access = "apiVersion: v1
kind: ServiceAccount
metadata: {name: viewer, namespace: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: viewer, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: viewer}]
---
";
    let all = format!(
        "{access}{}---\n{}",
        job("ours", "team"),
        job("theirs", "other")
    );
    s.write("all.yaml", &all);
    let applied = s.client(&server, &["apply", "-f", "all.yaml"]);
    assert_eq!(applied.code, 0, "{applied:?}");
    let made = s.client(&server, &["create", "token", "viewer", "-n", "team"]);
    assert_eq!(made.code, 0, "{made:?}");

    browser.go(&format!("{base}/"));
    browser.wait_for("#token");
    browser.type_into("#token", made.stdout.trim());
    browser.click("#sign-in");
    browser.wait_text("#user", 20, |t| t == "system:serviceaccount:team:viewer");
    open(&browser, &format!("{base}/#/jobs"), "Jobs");
    browser.wait_text("main", 20, |t| t.contains("ours"));
    let jobs = browser.text("main").unwrap_or_default();
    assert!(!jobs.contains("theirs"), "another namespace's Job: {jobs}");
    open(&browser, &format!("{base}/#/jobs/team/ours"), "Job ours");
    browser.wait_text("#job-status", 20, |t| t.contains("Complete"));
    browser.screenshot("viewer-job");
    let buttons = browser.run(
        "return document.querySelectorAll('#delete, #retry').length",
        json!([]),
    );
    assert_eq!(buttons, 0, "a viewer was shown a button it may not use");
}
