//! Kubernetes pod fields that mean nothing to a Wasm sandbox — ports, probes, kernel security contexts, service accounts, host
//! namespaces, pod DNS — and API versions Kubernetes retired. A manifest
//! written for Kubernetes carries them; wasmjob takes it anyway, without
//! them, and says so in one warning per field, worded like the API
//! server's warnings (`PATH: …`), saying what the sandbox does instead. A
//! field that asks for more power than the sandbox grants (`privileged`,
//! added capabilities, host namespaces) says plainly that it is not
//! granted. `--strict` turns the warnings into refusals (see `cli::source`).
//! A ResourceQuota's limits on what wasmjob does not meter are said the
//! same way, and kept.

use serde_yaml_ng::{Mapping, Value};

/// Pod-spec fields ignored, and why.
const POD: &[(&str, &str)] = &[
    ("hostNetwork", HOST),
    ("hostPID", HOST),
    ("hostIPC", HOST),
    ("serviceAccountName", ACCOUNT),
    ("serviceAccount", ACCOUNT),
    ("automountServiceAccountToken", ACCOUNT),
    ("dnsPolicy", DNS),
    ("dnsConfig", DNS),
    ("hostAliases", DNS),
    (
        "enableServiceLinks",
        "no service environment variables are set",
    ),
    (
        "runtimeClassName",
        "every instance runs in wasmjob's Wasm runtime",
    ),
    (
        "shareProcessNamespace",
        "an instance is one sandbox, with no processes to share",
    ),
    ("schedulerName", "wasmjob places every instance itself"),
    ("securityContext", SECURITY),
    ("hostname", NAME),
    ("subdomain", NAME),
    ("setHostnameAsFQDN", NAME),
    (
        "os",
        "a Wasm module runs on every node's operating system alike",
    ),
    ("hostUsers", HOST),
    (
        "readinessGates",
        "an instance is ready when it starts; no condition gates it",
    ),
    (
        "preemptionPolicy",
        "wasmjob orders waiting instances by priority and never preempts running ones",
    ),
];

/// Container fields ignored, and why.
const CONTAINER: &[(&str, &str)] = &[
    ("ports", "a Wasm instance listens on no ports"),
    ("livenessProbe", PROBE),
    ("readinessProbe", PROBE),
    ("startupProbe", PROBE),
    ("lifecycle", "lifecycle hooks are not run"),
    ("stdin", STDIN),
    ("stdinOnce", STDIN),
    ("tty", STDIN),
    ("terminationMessagePath", TERMINATION),
    ("terminationMessagePolicy", TERMINATION),
    (
        "resizePolicy",
        "an instance's limits are fixed when it starts",
    ),
    ("securityContext", SECURITY),
];

/// Volume mount fields ignored, and why.
const MOUNT: &[(&str, &str)] = &[(
    "mountPropagation",
    "a volume shows the sandbox the host directory as it is; mount propagation does not apply",
)];

const HOST: &str = "a Wasm sandbox shares no host namespaces";
const NAME: &str = "an instance's HOSTNAME is its name, with no pod DNS record";
const ACCOUNT: &str = "a Wasm instance gets no Kubernetes API credentials";
const DNS: &str = "a Wasm instance has no pod DNS configuration";
const PROBE: &str =
    "an instance is ready when it starts and done when it exits; probes are not run";
const STDIN: &str = "an instance's stdin comes from spec.queue (stdin mode), never a terminal";
const TERMINATION: &str =
    "an instance's end is its exit code, with the tail of its log as the message";
const SECURITY: &str = "the Wasm sandbox is the security context: kernel users, capabilities \
    and seccomp profiles do not apply";
const NOT_GRANTED: &str =
    "asks for more than the Wasm sandbox grants: the instance runs without it";

/// A ResourceQuota's limits on what wasmjob does not meter (CPU, storage,
/// services, requests): kept and shown, never enforced, said once each.
fn unmetered(value: &Value, warnings: &mut Vec<String>) {
    let Some(Value::Mapping(hard)) = value.get("spec").and_then(|s| s.get("hard")) else {
        return;
    };
    for name in hard.keys().filter_map(Value::as_str) {
        if !crate::access::quota::metered(name) {
            warnings.push(format!(
                "spec.hard[{name}]: not metered by wasmjob, which meters objects \
                 (count/jobs.batch, count/secrets, …), pods, limits.memory and \
                 wasmjob.dev/logs: kept, not enforced"
            ));
        }
    }
}

/// Takes the ignored fields out of the pod template(s) of the object in
/// `value` (of `kind`), with one warning each; a retired `apiVersion` is
/// read as its current form, with Kubernetes' deprecation warning.
/// A ResourceQuota's unmetered limits are said, and kept.
pub fn strip(value: &mut Value, kind: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(warning) = deprecated(value, kind) {
        warnings.push(warning);
    }
    if kind == "ResourceQuota" {
        unmetered(value, &mut warnings);
        return warnings;
    }
    let path: &[&str] = match kind {
        "Job" | "DaemonSet" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => return warnings,
    };
    let Some(pod) = mapping_at(value, path) else {
        return warnings;
    };
    let at = path.join(".");
    strip_fields(pod, &at, POD, &mut warnings);
    for list in ["initContainers", "containers"] {
        if let Some(Value::Sequence(containers)) = pod.get_mut(list) {
            for (i, container) in containers.iter_mut().enumerate() {
                if let Value::Mapping(container) = container {
                    let at = format!("{at}.{list}[{i}]");
                    strip_fields(container, &at, CONTAINER, &mut warnings);
                    if let Some(Value::Sequence(mounts)) = container.get_mut("volumeMounts") {
                        for (j, mount) in mounts.iter_mut().enumerate() {
                            if let Value::Mapping(mount) = mount {
                                let at = format!("{at}.volumeMounts[{j}]");
                                strip_fields(mount, &at, MOUNT, &mut warnings);
                            }
                        }
                    }
                }
            }
        }
    }
    warnings
}

/// Kubernetes' warning for a retired API version wasmjob reads as the
/// current one; `None` for a current one.
fn deprecated(value: &Value, kind: &str) -> Option<String> {
    let api = value.get("apiVersion")?.as_str()?;
    let (since, gone, current) = match (kind, api) {
        ("CronJob", "batch/v1beta1") => ("1.21", "1.25", "batch/v1"),
        ("DaemonSet", "apps/v1beta2" | "extensions/v1beta1") => ("1.9", "1.16", "apps/v1"),
        _ => return None,
    };
    Some(format!(
        "{api} {kind} is deprecated in v{since}+, unavailable in v{gone}+; use {current} {kind}"
    ))
}

fn mapping_at<'a>(value: &'a mut Value, path: &[&str]) -> Option<&'a mut Mapping> {
    let mut here = value;
    for key in path {
        here = here.get_mut(*key)?;
    }
    match here {
        Value::Mapping(map) => Some(map),
        _ => None,
    }
}

fn strip_fields(map: &mut Mapping, at: &str, fields: &[(&str, &str)], warnings: &mut Vec<String>) {
    for (field, why) in fields {
        let Some(taken) = map.remove(*field) else {
            continue;
        };
        let why = if asks_for_power(field, &taken) {
            NOT_GRANTED
        } else {
            why
        };
        warnings.push(format!("{at}.{field}: ignored: {why}"));
    }
}

/// Whether a removed field asked for power: a host namespace turned on, or
/// a security context that is privileged, escalates, or adds capabilities.
fn asks_for_power(field: &str, value: &Value) -> bool {
    match field {
        "hostNetwork" | "hostPID" | "hostIPC" => value.as_bool() == Some(true),
        "securityContext" => {
            let yes = |key: &str| value.get(key).and_then(Value::as_bool) == Some(true);
            let added = value
                .get("capabilities")
                .and_then(|c| c.get("add"))
                .and_then(Value::as_sequence)
                .is_some_and(|add| !add.is_empty());
            yes("privileged") || yes("allowPrivilegeEscalation") || added
        }
        _ => false,
    }
}
