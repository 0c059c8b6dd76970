"""The Python `kubernetes` client against a wasmjob node.

Run by tests/e2e/kube_api.rs as `python client.py KUBECONFIG IMAGE`: it
lists, creates, watches and deletes Jobs, and reads a Pod's log, printing
one `ok ...` line per step; any failure raises and exits non-zero.
"""

import sys

from kubernetes import client, config, watch


def main() -> None:
    kubeconfig, image = sys.argv[1], sys.argv[2]
    config.load_kube_config(config_file=kubeconfig)
    batch = client.BatchV1Api()
    core = client.CoreV1Api()

    before = batch.list_namespaced_job("default")
    print(f"ok list {len(before.items)}")

    job = client.V1Job(
        metadata=client.V1ObjectMeta(name="py-job", labels={"from": "python"}),
        spec=client.V1JobSpec(
            completions=2,
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    containers=[client.V1Container(name="hello", image=image)],
                )
            ),
        ),
    )
    created = batch.create_namespaced_job("default", job)
    print(f"ok create {created.metadata.name} {created.metadata.uid}")

    # Watch the Job until it is complete.
    done = False
    w = watch.Watch()
    for event in w.stream(
        batch.list_namespaced_job,
        "default",
        field_selector="metadata.name=py-job",
        timeout_seconds=60,
    ):
        status = event["object"].status
        conditions = status.conditions or []
        if any(c.type == "Complete" and c.status == "True" for c in conditions):
            done = True
            w.stop()
    assert done, "the Job did not complete within the watch"
    print(f"ok watch complete")

    pods = core.list_namespaced_pod("default", label_selector="job-name=py-job")
    assert len(pods.items) == 2, pods.items
    name = pods.items[0].metadata.name
    terminated = pods.items[0].status.container_statuses[0].state.terminated
    assert terminated.exit_code == 0, terminated
    log = core.read_namespaced_pod_log(name, "default")
    print(f"ok log {log.strip()}")

    try:
        batch.read_namespaced_job("nope", "default")
        raise AssertionError("a missing Job was found")
    except client.exceptions.ApiException as e:
        assert e.status == 404, e
        print("ok missing 404")

    batch.delete_namespaced_job(
        "py-job", "default", body=client.V1DeleteOptions(propagation_policy="Foreground")
    )
    after = batch.list_namespaced_job("default", label_selector="from=python")
    assert not after.items, after.items
    print("ok delete")


if __name__ == "__main__":
    main()
