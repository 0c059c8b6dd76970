//! Manifest loading as a user meets it: each bad input and its one message.

use std::path::Path;

use super::*;

const PI: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  template:
    spec:
      containers:
      - name: pi
        image: pi.wasm
        args: ["2000"]
      restartPolicy: Never
  backoffLimit: 4
"#;

fn load(text: &str) -> Result<Vec<Document>, ManifestError> {
    load_str(text, "jobs.yaml", Path::new("."))
}

fn error(text: &str) -> String {
    load(text)
        .expect_err("manifest should be refused")
        .to_string()
}

fn job(text: &str) -> Job {
    match load(text).unwrap().remove(0).object {
        Object::Job(job) => job,
        other => panic!("not a Job: {other:?}"),
    }
}

#[test]
fn the_seed_pi_job_loads_with_kubernetes_defaults() {
    let job = job(PI);
    assert_eq!(job.metadata.name, "pi");
    assert_eq!(job.metadata.namespace, "default");
    assert_eq!(job.spec.completions(), Some(1));
    assert_eq!(job.spec.parallelism(), 1);
    assert_eq!(job.spec.backoff_limit(), 4);
    assert_eq!(job.spec.restart_policy(), RestartPolicy::Never);
    assert!(!job.spec.indexed());
}

#[test]
fn parallelism_alone_leaves_completions_unset() {
    let text = PI.replace("backoffLimit: 4", "parallelism: 2");
    let job = job(&text);
    assert_eq!(job.spec.completions(), None);
    assert_eq!(job.spec.parallelism(), 2);
    assert_eq!(job.spec.backoff_limit(), 6);
}

#[test]
fn negative_counts_name_the_document_and_field() {
    let text = format!(
        "{PI}---\n{}",
        PI.replace("backoffLimit: 4", "parallelism: -3")
    );
    assert_eq!(
        error(&text),
        "jobs.yaml: document 2: spec.parallelism: must be >= 0, got -3"
    );
}

#[test]
fn wrong_types_name_the_field() {
    let err = error(&PI.replace("backoffLimit: 4", "completions: many"));
    assert!(
        err.starts_with("jobs.yaml: document 1: spec.completions: invalid type"),
        "{err}"
    );
}

#[test]
fn unknown_fields_are_refused_with_their_path() {
    let err = error(&PI.replace("args:", "argz:"));
    assert!(
        err.starts_with(
            "jobs.yaml: document 1: spec.template.spec.containers[0].argz: unknown field"
        ),
        "{err}"
    );
}

#[test]
fn container_only_fields_say_why() {
    let err = error(&PI.replace("args:", "volumeDevices: []\n        args:"));
    assert!(
        err.contains("containers[0].volumeDevices: only makes sense for containers"),
        "{err}"
    );
}

#[test]
fn fields_a_sandbox_ignores_are_taken_out_with_one_warning_each() {
    let text = PI
        .replace(
            "args:",
            "ports: [{containerPort: 80}]\n        \
             securityContext: {runAsNonRoot: true}\n        args:",
        )
        .replace(
            "restartPolicy: Never",
            "restartPolicy: Never\n      serviceAccountName: backup\n      hostNetwork: true",
        );
    let docs = load(&text).unwrap();
    let warnings = &docs[0].warnings;
    let pod = "spec.template.spec";
    assert_eq!(
        warnings,
        &[
            format!(
                "{pod}.hostNetwork: ignored: asks for more than the Wasm sandbox grants: the instance runs without it"
            ),
            format!(
                "{pod}.serviceAccountName: ignored: a Wasm instance gets no Kubernetes API credentials"
            ),
            format!("{pod}.containers[0].ports: ignored: a Wasm instance listens on no ports"),
            format!(
                "{pod}.containers[0].securityContext: ignored: the Wasm sandbox is the security context: kernel users, capabilities and seccomp profiles do not apply"
            ),
        ]
    );
    // The object is the same as without them.
    assert_eq!(docs[0].object, load(PI).unwrap()[0].object);
}

#[test]
fn a_privileged_security_context_is_said_not_granted() {
    let text = PI.replace(
        "args:",
        "securityContext:\n          capabilities: {add: [NET_ADMIN]}\n        args:",
    );
    let warnings = load(&text).unwrap().remove(0).warnings;
    assert_eq!(
        warnings,
        [
            "spec.template.spec.containers[0].securityContext: ignored: asks for more than the \
          Wasm sandbox grants: the instance runs without it"
        ]
    );
}

#[test]
fn retired_api_versions_are_read_with_kubernetes_deprecation_warning() {
    let cron = r#"
apiVersion: batch/v1beta1
kind: CronJob
metadata: {name: backup}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: b, image: pi.wasm, imagePullPolicy: IfNotPresent}]
          restartPolicy: OnFailure
"#;
    let warnings = load(cron).unwrap().remove(0).warnings;
    assert_eq!(
        warnings,
        [
            "batch/v1beta1 CronJob is deprecated in v1.21+, unavailable in v1.25+; use batch/v1 CronJob",
        ]
    );
    for api in ["apps/v1beta2", "extensions/v1beta1"] {
        let ds = format!(
            "apiVersion: {api}\nkind: DaemonSet\nmetadata: {{name: agent}}\nspec:\n  \
             selector: {{matchLabels: {{app: agent}}}}\n  template:\n    metadata: \
             {{labels: {{app: agent}}}}\n    spec:\n      containers: [{{name: a, image: pi.wasm}}]\n"
        );
        let warnings = load(&ds).unwrap().remove(0).warnings;
        assert_eq!(
            warnings,
            [format!(
                "{api} DaemonSet is deprecated in v1.9+, unavailable in v1.16+; use apps/v1 DaemonSet"
            )]
        );
    }
    // A current version warns nothing.
    assert!(load(PI).unwrap()[0].warnings.is_empty());
}

#[test]
fn unimplemented_kubernetes_fields_are_refused_not_ignored() {
    let err = error(&PI.replace("backoffLimit: 4", "podReplacementPolicy: Failed"));
    assert!(
        err.contains("spec.podReplacementPolicy: is a Kubernetes field"),
        "{err}"
    );
}

#[test]
fn names_follow_dns_1123() {
    let err = error(&PI.replace("name: pi\nspec", "name: Pi_Job\nspec"));
    assert!(
        err.starts_with("jobs.yaml: document 1: metadata.name: invalid name"),
        "{err}"
    );
}

#[test]
fn jobs_refuse_restart_policy_always() {
    let err = error(&PI.replace("restartPolicy: Never", "restartPolicy: Always"));
    assert!(
        err.contains("spec.template.spec.restartPolicy: unsupported value \"Always\": a Job needs Never or OnFailure"),
        "{err}"
    );
}

#[test]
fn a_missing_image_says_what_an_image_is() {
    let err = error(&PI.replace("image: pi.wasm", "image: \"\""));
    assert!(err.contains("containers[0].image: is required"), "{err}");
}

#[test]
fn two_containers_of_one_name_are_refused() {
    let two = |name: &str| {
        PI.replace(
            "restartPolicy: Never",
            &format!("- name: {name}\n        image: b.wasm\n      restartPolicy: Never"),
        )
    };
    assert_eq!(job(&two("b")).spec.template.spec.containers.len(), 2);
    let err = error(&two("pi"));
    assert!(
        err.contains("spec.template.spec.containers[1].name: duplicate container name \"pi\""),
        "{err}"
    );
}

#[test]
fn memory_limits_are_kubernetes_quantities() {
    let text = PI.replace(
        "args: [\"2000\"]",
        "resources:\n          limits:\n            memory: 16Mi",
    );
    assert_eq!(
        job(&text).spec.template.spec.containers[0].memory_limit(),
        Some(16 << 20)
    );
    let err = error(&text.replace("16Mi", "16MB"));
    assert!(
        err.contains("resources.limits.memory: invalid quantity \"16MB\""),
        "{err}"
    );
}

#[test]
fn volume_mounts_must_name_a_volume() {
    let text = PI.replace(
        "args: [\"2000\"]",
        "volumeMounts:\n        - name: data\n          mountPath: /data",
    );
    let err = error(&text);
    assert!(
        err.contains("volumeMounts[0].name: no volume named \"data\""),
        "{err}"
    );
}

#[test]
fn unknown_kinds_and_api_versions_are_named() {
    let err = error(&PI.replace("kind: Job", "kind: Pod"));
    assert!(
        err.contains("document 1: kind: unknown kind \"Pod\""),
        "{err}"
    );
    let err = error(&PI.replace("batch/v1", "apps/v1"));
    assert!(
        err.contains("apiVersion: Job is batch/v1, got \"apps/v1\""),
        "{err}"
    );
}

#[test]
fn yaml_syntax_errors_name_the_document() {
    let err = error("apiVersion: batch/v1\nkind: [Job\n");
    assert!(
        err.starts_with("jobs.yaml: document 1: not valid YAML"),
        "{err}"
    );
}

#[test]
fn an_empty_file_holds_no_objects() {
    assert_eq!(
        error("# nothing\n"),
        "jobs.yaml: holds no objects: expected a Job, CronJob, DaemonSet, ConfigMap, Secret or PriorityClass"
    );
}

#[test]
fn the_seed_cronjob_loads_from_batch_v1beta1() {
    let text = r#"
apiVersion: batch/v1beta1
kind: CronJob
metadata:
 name: hello
spec:
 schedule: "*/1 * * * *"
 jobTemplate:
   spec:
     template:
       spec:
         containers:
         - name: hello
           image: hello.wasm
         restartPolicy: OnFailure
"#;
    let docs = load(text).unwrap();
    let Object::CronJob(cron) = &docs[0].object else {
        panic!()
    };
    assert_eq!(cron.spec.successful_jobs_history_limit, Some(3));
    assert_eq!(cron.spec.failed_jobs_history_limit, Some(1));
    let err = error(&text.replace("\"*/1", "\"TZ=UTC */1"));
    assert!(err.contains("use timeZone field instead"), "{err}");
    let policy = text.replace(" schedule:", " missedRunPolicy: RunAll\n schedule:");
    let Object::CronJob(cron) = &load(&policy).unwrap()[0].object else {
        panic!()
    };
    assert_eq!(cron.spec.missed_run_policy, Some(MissedRunPolicy::RunAll));
    let err = error(&text.replace(" schedule:", " missedRunPolicy: Sometimes\n schedule:"));
    assert!(
        err.contains("spec.missedRunPolicy: unknown variant `Sometimes`"),
        "{err}"
    );
}

#[test]
fn daemonsets_need_restart_policy_always() {
    let text = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-monitor
spec:
  template:
    metadata:
      labels: {app: node-monitor}
    spec:
      containers:
      - name: monitor
        image: monitor.wasm
      restartPolicy: Never
"#;
    let err = error(text);
    assert!(err.contains("a DaemonSet needs Always"), "{err}");
    assert!(load(&text.replace("      restartPolicy: Never\n", "")).is_ok());
}

const INDEXED: &str = "completions: 4\n  completionMode: Indexed";

#[test]
fn pod_failure_policy_follows_kubernetes_validation() {
    let rule = |body: &str| {
        PI.replace(
            "backoffLimit: 4",
            &format!("podFailurePolicy:\n    rules:\n    - action: FailJob\n{body}"),
        )
    };
    let ok = rule("      onExitCodes:\n        operator: In\n        values: [42]");
    assert!(load(&ok).is_ok());
    let err = error(&rule(
        "      onExitCodes:\n        operator: In\n        values: [0, 42]",
    ));
    assert!(
        err.contains("spec.podFailurePolicy.rules[0].onExitCodes.values: must not contain 0"),
        "{err}"
    );
    let err = error(&rule(""));
    assert!(
        err.contains("rules[0]: needs exactly one of onExitCodes and onPodConditions"),
        "{err}"
    );
    let err = error(&ok.replace("restartPolicy: Never", "restartPolicy: OnFailure"));
    assert!(
        err.contains(
            "spec.podFailurePolicy: is only allowed when spec.template.spec.restartPolicy is Never"
        ),
        "{err}"
    );
    let err = error(&ok.replace("action: FailJob", "action: FailIndex"));
    assert!(
        err.contains("FailIndex needs spec.backoffLimitPerIndex"),
        "{err}"
    );
    let err = error(&ok.replace("operator: In", "operator: Maybe"));
    assert!(
        err.contains("spec.podFailurePolicy.rules[0].onExitCodes.operator: unknown variant"),
        "{err}"
    );
}

#[test]
fn per_index_limits_need_an_indexed_job() {
    let err = error(&PI.replace("backoffLimit: 4", "backoffLimitPerIndex: 1"));
    assert!(
        err.contains("spec.backoffLimitPerIndex: is only allowed when completionMode is Indexed"),
        "{err}"
    );
    let err = error(&PI.replace(
        "backoffLimit: 4",
        &format!("{INDEXED}\n  maxFailedIndexes: 1"),
    ));
    assert!(
        err.contains("spec.maxFailedIndexes: needs backoffLimitPerIndex"),
        "{err}"
    );
    let ok = PI.replace(
        "backoffLimit: 4",
        &format!("{INDEXED}\n  backoffLimitPerIndex: 1\n  maxFailedIndexes: 2"),
    );
    let job = job(&ok);
    assert_eq!(
        job.spec.backoff_limit(),
        i32::MAX as u32,
        "the global limit steps aside"
    );
}

#[test]
fn success_policy_is_for_indexed_jobs_with_indexes_in_range() {
    let policy =
        "successPolicy:\n    rules:\n    - succeededIndexes: \"0,2-3\"\n      succeededCount: 2";
    assert!(load(&PI.replace("backoffLimit: 4", &format!("{INDEXED}\n  {policy}"))).is_ok());
    let err = error(&PI.replace("backoffLimit: 4", policy));
    assert!(
        err.contains("spec.successPolicy: is only allowed when completionMode is Indexed"),
        "{err}"
    );
    let err = error(&PI.replace(
        "backoffLimit: 4",
        &format!("{INDEXED}\n  {}", policy.replace("2-3", "2-4")),
    ));
    assert!(
        err.contains("succeededIndexes: index 4 is out of range"),
        "{err}"
    );
    let err = error(&PI.replace(
        "backoffLimit: 4",
        &format!("{INDEXED}\n  {}", policy.replace("Count: 2", "Count: 4")),
    ));
    assert!(err.contains("succeededCount: must be at most 3"), "{err}");
}

#[test]
fn backoff_policy_allows_zero_but_not_negative_delays() {
    let text = PI.replace(
        "backoffLimit: 4",
        "backoffPolicy:\n    initialDelaySeconds: 0\n    maxDelaySeconds: 0",
    );
    assert_eq!(job(&text).spec.backoff_delays(), (0, 0));
    assert_eq!(job(PI).spec.backoff_delays(), (10, 600));
    let err = error(&text.replace("initialDelaySeconds: 0", "initialDelaySeconds: -1"));
    assert!(
        err.contains("spec.backoffPolicy.initialDelaySeconds: must be >= 0, got -1"),
        "{err}"
    );
}

#[test]
fn bare_number_quantities_are_taken_as_kubernetes_takes_them() {
    let text = PI.replace(
        "args:",
        "resources:\n          requests: {cpu: 1, memory: 134217728}\n          \
         limits: {cpu: 0.5}\n        args:",
    );
    let job = job(&text);
    let resources = &job.spec.template.spec.containers[0].resources;
    assert_eq!(resources.requests.cpu.as_deref(), Some("1"));
    assert_eq!(resources.requests.memory.as_deref(), Some("134217728"));
    assert_eq!(resources.limits.cpu.as_deref(), Some("0.5"));
    let err = error(&PI.replace(
        "args:",
        "resources:\n          limits: {cpu: [1]}\n        args:",
    ));
    assert!(
        err.contains("resources.limits.cpu: invalid type: sequence, expected a quantity such as 64Mi, 500m or 1"),
        "{err}"
    );
}

#[test]
fn generate_name_completes_the_prefix_as_the_api_server_does() {
    let text = PI.replace("  name: pi", "  generateName: pi-");
    let a = job(&text);
    let b = job(&text);
    assert!(
        a.metadata.name.starts_with("pi-") && a.metadata.name.len() == 8,
        "{}",
        a.metadata.name
    );
    assert_ne!(a.metadata.name, b.metadata.name);
    assert!(a.metadata.name_generated);
    // A long prefix is cut to fit the kind's limit with its suffix.
    let long = PI.replace("  name: pi", &format!("  generateName: {}", "a".repeat(70)));
    assert_eq!(job(&long).metadata.name.len(), 63);
    // A name wins over generateName, as in Kubernetes.
    let both = PI.replace("  name: pi", "  name: pi\n  generateName: x-");
    let both = job(&both);
    assert_eq!(both.metadata.name, "pi");
    assert!(!both.metadata.name_generated);
    let err = error(&PI.replace("  name: pi", "  generateName: \"\""));
    assert!(err.contains("metadata.generateName: is empty"), "{err}");
}
