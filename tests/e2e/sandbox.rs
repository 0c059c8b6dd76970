//! What a guest can and cannot reach (issue 2, "Sandbox"): only its volumes,
//! read-only when asked; only the declared and injected env; capped output.

use wasmjob_tests::{Session, job_yaml, program};

fn volume(host: &std::path::Path, read_only: bool) -> String {
    format!(
        "        volumeMounts:\n        - name: data\n          mountPath: /data\n          readOnly: {read_only}\n      \
         volumes:\n      - name: data\n        hostPath:\n          path: {}",
        host.display()
    )
}

#[test]
fn a_write_to_a_read_only_volume_fails_in_the_guest_and_the_host_file_is_unchanged() {
    let s = Session::new();
    let host = s.work.path().join("shared");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("note.txt"), "original\n").unwrap();
    let yaml = job_yaml(
        "writer",
        &program("write-file"),
        &["/data/note.txt", "overwritten\n"],
        "  backoffLimit: 0",
        &volume(&host, true),
    );
    let path = s.write("job.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stdout.contains("cannot write /data/note.txt"),
        "{}",
        ran.stdout
    );
    assert_eq!(
        std::fs::read_to_string(host.join("note.txt")).unwrap(),
        "original\n"
    );
}

#[test]
fn a_writable_volume_receives_the_guest_file() {
    let s = Session::new();
    let host = s.work.path().join("out");
    std::fs::create_dir_all(&host).unwrap();
    let yaml = job_yaml(
        "writer",
        &program("write-file"),
        &["/data/result.txt", "42\n"],
        "",
        &volume(&host, false),
    );
    let path = s.write("job.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(
        std::fs::read_to_string(host.join("result.txt")).unwrap(),
        "42\n"
    );
}

#[test]
fn a_guest_cannot_open_host_paths_outside_its_volumes() {
    let s = Session::new();
    let host = s.work.path().join("vol");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(s.work.path().join("secret.txt"), "host secret\n").unwrap();
    std::os::unix::fs::symlink(s.work.path().join("secret.txt"), host.join("link")).unwrap();
    let escapes = [
        "/etc/hostname".to_owned(),
        "/data/../secret.txt".to_owned(),
        "/data/link".to_owned(),
        s.work.path().join("secret.txt").display().to_string(),
    ];
    for target in escapes {
        let yaml = job_yaml(
            "reader",
            &program("read-file"),
            &[&target],
            "  backoffLimit: 0",
            &volume(&host, false),
        );
        let path = s.write("job.yaml", &yaml);
        let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
        assert_eq!(ran.code, 1, "{target} must not be readable: {ran:?}");
        assert!(
            !ran.stdout.contains("host secret"),
            "{target}: {}",
            ran.stdout
        );
        assert!(
            ran.stdout.contains("cannot read"),
            "{target}: {}",
            ran.stdout
        );
    }
}

#[test]
fn the_guest_sees_only_declared_and_injected_env() {
    let s = Session::new();
    let env = "        env:\n        - name: GREETING\n          value: hi";
    let yaml = job_yaml("envy", &program("print-env"), &["one"], "", env);
    let path = s.write("job.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap(), "--node-name", "edge-1"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let log = &s.logs("envy")[0];
    let lines: Vec<&str> = log.2.lines().collect();
    assert!(lines.contains(&"env GREETING=hi"), "{lines:?}");
    assert!(lines.contains(&"env JOB_NAME=envy"), "{lines:?}");
    assert!(lines.contains(&"env NODE_NAME=edge-1"), "{lines:?}");
    assert!(
        lines.contains(&format!("env HOSTNAME={}", log.0).as_str()),
        "{lines:?}"
    );
    // argv[0] is the container name when command is empty.
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("arg "))
            .copied()
            .collect::<Vec<_>>(),
        ["arg main", "arg one"]
    );
    // Nothing of the host's environment leaks in.
    let env_lines = lines.iter().filter(|l| l.starts_with("env ")).count();
    assert_eq!(
        env_lines, 5,
        "GREETING, JOB_NAME, HOSTNAME, INSTANCE_NAME, NODE_NAME: {lines:?}"
    );
}

/// Kubernetes' `$(VAR)` references: an `env` value sees the variables
/// declared before it, `command` and `args` see them all, `$$` is a `$`,
/// and a reference to nothing stays as written.
#[test]
fn variable_references_expand_in_env_and_args_as_the_kubelet_does() {
    let s = Session::new();
    let env = "        env:\n        - name: A\n          value: x\n        \
               - name: B\n          value: $(A)-y\n        \
               - name: C\n          value: $(D)\n        - name: D\n          value: d";
    let args = ["$(B)", "$$(A)", "$(NOPE)", "$(D)"];
    let yaml = job_yaml("refs", &program("print-env"), &args, "", env);
    let path = s.write("job.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let log = &s.logs("refs")[0];
    let lines: Vec<&str> = log.2.lines().collect();
    assert!(lines.contains(&"env B=x-y"), "{lines:?}");
    // D is declared after C: C keeps the reference as written.
    assert!(lines.contains(&"env C=$(D)"), "{lines:?}");
    let argv: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("arg "))
        .copied()
        .collect();
    assert_eq!(
        argv,
        ["arg main", "arg x-y", "arg $(A)", "arg $(NOPE)", "arg d"]
    );
}

#[test]
fn each_instance_of_a_many_completion_job_sees_its_own_name() {
    // Instances after the first of each slot are relayed, and share one
    // sandbox built for the Job: each must still see its own name.
    let s = Session::new();
    let spec = "  completions: 40\n  parallelism: 2";
    let yaml = job_yaml("named", &program("print-env"), &[], spec, "");
    let path = s.write("job.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let logs = s.logs("named");
    assert_eq!(logs.len(), 40);
    for (name, _, log) in &logs {
        let lines: Vec<&str> = log.lines().collect();
        assert!(
            lines.contains(&format!("env HOSTNAME={name}").as_str()),
            "{name}: {lines:?}"
        );
        assert!(
            lines.contains(&format!("env INSTANCE_NAME={name}").as_str()),
            "{name}: {lines:?}"
        );
        assert!(lines.contains(&"env JOB_NAME=named"), "{lines:?}");
    }
    // A declared HOSTNAME is the one every instance sees.
    let env = "        env:\n        - name: HOSTNAME\n          value: fixed";
    let yaml = job_yaml("declared", &program("print-env"), &[], spec, env);
    let path = s.write("declared.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    for (name, _, log) in &s.logs("declared") {
        let lines: Vec<&str> = log.lines().collect();
        assert!(lines.contains(&"env HOSTNAME=fixed"), "{name}: {lines:?}");
        assert!(
            lines.contains(&format!("env INSTANCE_NAME={name}").as_str()),
            "{name}: {lines:?}"
        );
    }
}

#[test]
fn indexed_jobs_get_their_completion_index() {
    let s = Session::new();
    let spec = "  completions: 4\n  parallelism: 2\n  completionMode: Indexed";
    let yaml = job_yaml("indexed", &program("print-env"), &[], spec, "");
    let path = s.write("job.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap(), "-o", "json"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let mut seen: Vec<String> = s
        .logs("indexed")
        .iter()
        .flat_map(|(_, _, log)| {
            log.lines()
                .filter_map(|l| l.strip_prefix("env JOB_COMPLETION_INDEX="))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    seen.sort();
    assert_eq!(seen, ["0", "1", "2", "3"], "each index exactly once");
    let list = ran.json();
    assert_eq!(list["items"][0]["status"]["completedIndexes"], "0-3");
}

#[test]
fn five_mib_of_output_is_capped_at_one_mib_with_a_marker() {
    let s = Session::new();
    let yaml = job_yaml("chatty", &program("print-lots"), &["5"], "", "");
    let path = s.write("job.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(
        ran.code, 0,
        "a chatty module is not killed for its output: {ran:?}"
    );
    let log = &s.logs("chatty")[0].2;
    assert!(log.len() < (1 << 20) + 200, "kept {} bytes", log.len());
    assert!(log.len() >= 1 << 20);
    let last = log.lines().last().unwrap();
    assert!(
        last.starts_with("[wasmjob: output truncated at 1048576 bytes;"),
        "{last}"
    );
}

#[test]
fn a_persistent_volume_claim_is_a_node_directory_that_outlives_its_instances() {
    let s = Session::new();
    let claim = |name: &str, program_name: &str, args: &[&str], read_only: bool| {
        job_yaml(
            name,
            &program(program_name),
            args,
            "  backoffLimit: 0",
            &format!(
                "        volumeMounts:\n        - {{name: data, mountPath: /data}}\n      \
                 volumes:\n      - name: data\n        persistentVolumeClaim: {{claimName: results, readOnly: {read_only}}}"
            ),
        )
    };
    let write = s.write(
        "write.yaml",
        &claim(
            "producer",
            "write-file",
            &["/data/out.txt", "kept\n"],
            false,
        ),
    );
    let ran = s.wasmjob(&["run", "-f", write.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let on_disk = s.state.path().join("volumes/default/results/out.txt");
    assert_eq!(std::fs::read_to_string(&on_disk).unwrap(), "kept\n");
    let read = s.write(
        "read.yaml",
        &claim("consumer", "read-file", &["/data/out.txt"], true),
    );
    let ran = s.wasmjob(&["run", "-f", read.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("kept"), "{}", ran.stdout);
    // readOnly on the claim holds for every mount of it.
    let refused = s.write(
        "again.yaml",
        &claim("again", "write-file", &["/data/out.txt", "x"], true),
    );
    let ran = s.wasmjob(&["run", "-f", refused.to_str().unwrap()]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(std::fs::read_to_string(&on_disk).unwrap(), "kept\n");
}

#[test]
fn a_host_file_is_seen_at_its_mount_path_and_written_back_unless_read_only() {
    let s = Session::new();
    let host = s.work.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("config.txt"), "from the host\n").unwrap();
    std::fs::write(host.join("sibling.txt"), "not for the guest\n").unwrap();
    let volumes = |extra: &str| {
        format!(
            "        volumeMounts:\n        - {{name: config, mountPath: /etc/app/config.txt, readOnly: true}}\n        \
             - {{name: lock, mountPath: /run/app/state.lock}}\n      \
             volumes:\n      - name: config\n        hostPath: {{path: {}, type: File}}\n      \
             - name: lock\n        hostPath: {{path: {}, type: FileOrCreate}}{extra}",
            host.join("config.txt").display(),
            host.join("state/app.lock").display(),
        )
    };
    let read = job_yaml(
        "reader",
        &program("read-file"),
        &["/etc/app/config.txt"],
        "  backoffLimit: 0",
        &volumes(""),
    );
    let ran = s.wasmjob(&["run", "-f", s.write("read.yaml", &read).to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("from the host"), "{}", ran.stdout);
    // Only the file: its neighbours on the host are not in the sandbox.
    let sibling = job_yaml(
        "sibling",
        &program("read-file"),
        &["/etc/app/sibling.txt"],
        "  backoffLimit: 0",
        &volumes(""),
    );
    let ran = s.wasmjob(&[
        "run",
        "-f",
        s.write("sibling.yaml", &sibling).to_str().unwrap(),
    ]);
    assert_eq!(ran.code, 1, "{ran:?}");
    // FileOrCreate made the file; what the guest wrote goes back; a
    // read-only file's changes do not.
    let write = job_yaml(
        "writer",
        &program("write-file"),
        &["/run/app/state.lock", "held\n"],
        "  backoffLimit: 0",
        &volumes(""),
    );
    let ran = s.wasmjob(&["run", "-f", s.write("write.yaml", &write).to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(
        std::fs::read_to_string(host.join("state/app.lock")).unwrap(),
        "held\n"
    );
    let overwrite = job_yaml(
        "overwrite",
        &program("write-file"),
        &["/etc/app/config.txt", "changed\n"],
        "  backoffLimit: 0",
        &volumes(""),
    );
    let ran = s.wasmjob(&[
        "run",
        "-f",
        s.write("overwrite.yaml", &overwrite).to_str().unwrap(),
    ]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stdout.contains("cannot write /etc/app/config.txt"),
        "{}",
        ran.stdout
    );
    assert_eq!(
        std::fs::read_to_string(host.join("config.txt")).unwrap(),
        "from the host\n"
    );
}
