"""Status from children: every Ready reason, Progressing, Degraded and transition times."""
from __future__ import annotations

from detector_operator.status import compute_status
from detector_operator.views import DeploymentView, PodView

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def dep(replicas=1, ready=1, updated=None, available=None, generation=1, observed=1):
    updated = replicas if updated is None else updated
    available = ready if available is None else available
    return DeploymentView(generation, observed, replicas, updated, ready, available)


def status(*, replicas=1, deployment=None, pods=(), previous=(), now=T0, spec_error=None, serving_note=None):
    return compute_status(
        generation=3, replicas=replicas, deployment=deployment, pods=pods,
        previous_conditions=previous, now=now, selector="a=b",
        addresses={"url": "http://x", "grpcAddress": "x:9000"}, spec_error=spec_error, serving_note=serving_note,
    )


def cond(st, type_):
    return next(c for c in st["conditions"] if c["type"] == type_)


def pod_body(name="p1", *, phase_conditions=(), init=(), containers=(), deleting=False):
    meta = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = T0
    return {"metadata": meta, "status": {
        "conditions": list(phase_conditions), "initContainerStatuses": list(init),
        "containerStatuses": list(containers)}}


CRASHLOOP = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting"}}


def crashed(name, message):
    return {"name": name, "state": CRASHLOOP,
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": message}}}


def test_all_replicas_ready_is_serving_and_rollout_complete():
    st = status(deployment=dep(replicas=1, ready=1))
    assert (cond(st, "Ready")["status"], cond(st, "Ready")["reason"]) == ("True", "Serving")
    assert cond(st, "Progressing")["reason"] == "RolloutComplete"
    assert (cond(st, "Degraded")["status"], cond(st, "Degraded")["reason"]) == ("False", "AsExpected")
    assert st["observedGeneration"] == 3 and st["readyReplicas"] == 1 and st["replicas"] == 1
    assert st["selector"] == "a=b" and st["url"] == "http://x" and st["grpcAddress"] == "x:9000"
    assert all(c["observedGeneration"] == 3 for c in st["conditions"])


def test_unscheduled_pod_shows_unschedulable_with_the_scheduler_message():
    msg = "0/4 nodes are available: 2 Insufficient nvidia.com/gpu."
    p = PodView.of(pod_body(phase_conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg}]))
    st = status(deployment=dep(ready=0), pods=[p])
    ready = cond(st, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Unschedulable") and msg in ready["message"]
    assert (cond(st, "Degraded")["status"], cond(st, "Degraded")["reason"]) == ("True", "Unschedulable")
    assert cond(st, "Progressing")["reason"] == "RollingOut"


def test_missing_claim_shows_claim_not_found():
    p = PodView.of(pod_body(phase_conditions=[{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": '0/4 nodes are available: persistentvolumeclaim "model-store" not found.'}]))
    ready = cond(status(deployment=dep(ready=0), pods=[p]), "Ready")
    assert ready["reason"] == "ClaimNotFound" and "'model-store'" in ready["message"]


def test_crashlooping_init_container_shows_model_load_failed_with_its_termination_message():
    p = PodView.of(pod_body(init=[crashed("fetch-model", "no such bucket: my-models")]))
    ready = cond(status(deployment=dep(ready=0), pods=[p]), "Ready")
    assert ready["reason"] == "ModelLoadFailed"
    assert "no such bucket: my-models" in ready["message"] and "exit code 1" in ready["message"]
    assert "back-off" not in ready["message"]  # changes every retry: would make idle writes


def test_downloader_line_is_said_once_not_under_a_second_prefix():
    # The downloader's own termination message already says what failed (a real node showed
    # "model download failed: model download failed: HTTP 404 ..." before).
    line = "model download failed: HTTP 404 from http://10.89.0.1:8000/no-such.tar.gz"
    p = PodView.of(pod_body(init=[crashed("fetch-model", line)]))
    message = cond(status(deployment=dep(ready=0), pods=[p]), "Ready")["message"]
    assert message.count("model download failed") == 1 and line in message, message


def test_crashlooping_server_shows_server_crash_looping():
    p = PodView.of(pod_body(containers=[crashed("server", "OOM while loading")]))
    st = status(deployment=dep(ready=0), pods=[p])
    assert cond(st, "Ready")["reason"] == "ServerCrashLooping"
    assert cond(st, "Degraded")["reason"] == "ServerCrashLooping"


def test_running_but_unready_pods_are_deploying_not_degraded():
    p = PodView.of(pod_body(phase_conditions=[{"type": "Ready", "status": "False"}]))
    st = status(deployment=dep(ready=0, available=0), pods=[p])
    assert cond(st, "Ready")["reason"] == "Deploying" and "0/1" in cond(st, "Ready")["message"]
    assert cond(st, "Degraded")["status"] == "False"


def test_image_pull_problems_are_named_in_the_deploying_message():
    p = PodView.of(pod_body(containers=[{"name": "server", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]))
    assert "ImagePullBackOff" in cond(status(deployment=dep(ready=0), pods=[p]), "Ready")["message"]


def test_no_deployment_yet_is_deploying_and_rolling_out():
    st = status()
    assert cond(st, "Ready")["reason"] == "Deploying"
    assert (cond(st, "Progressing")["status"], cond(st, "Progressing")["reason"]) == ("True", "RollingOut")


def test_rollout_in_progress_keeps_serving_while_progressing():
    st = status(replicas=2, deployment=dep(replicas=3, ready=2, updated=1, generation=2, observed=2))
    assert cond(st, "Ready")["reason"] == "Serving"
    assert cond(st, "Progressing")["status"] == "True"


def test_unobserved_deployment_generation_is_still_rolling_out():
    st = status(deployment=dep(generation=2, observed=1))
    assert cond(st, "Progressing")["reason"] == "RollingOut"


def test_zero_replicas_is_scaled_to_zero():
    st = status(replicas=0, deployment=dep(replicas=0, ready=0))
    assert (cond(st, "Ready")["status"], cond(st, "Ready")["reason"]) == ("False", "ScaledToZero")
    assert cond(st, "Degraded")["status"] == "False"


def test_spec_error_wins_over_everything():
    st = status(deployment=dep(), spec_error="spec.gpu may only be set when hardware is gpu")
    assert cond(st, "Ready")["reason"] == "InvalidSpec" and cond(st, "Degraded")["reason"] == "InvalidSpec"
    assert cond(st, "Progressing")["status"] == "False"


def test_terminating_pods_are_ignored():
    assert PodView.of(pod_body(init=[crashed("fetch-model", "x")], deleting=True)) is None


def test_last_transition_time_moves_only_on_a_flip():
    first = status(deployment=dep(ready=0), now=T0)
    same = status(deployment=dep(ready=0), previous=first["conditions"], now=T1)
    assert same == first  # identical status: nothing to write
    flipped = status(deployment=dep(ready=1), previous=first["conditions"], now=T1)
    assert cond(flipped, "Ready")["lastTransitionTime"] == T1
    assert cond(flipped, "Degraded")["lastTransitionTime"] == T0  # still False


def test_reason_change_without_flip_keeps_the_time():
    p = PodView.of(pod_body(init=[crashed("fetch-model", "x")]))
    first = status(deployment=dep(ready=0), now=T0)
    later = status(deployment=dep(ready=0), pods=[p], previous=first["conditions"], now=T1)
    assert cond(later, "Ready")["reason"] == "ModelLoadFailed"
    assert cond(later, "Ready")["lastTransitionTime"] == T0


def test_deployment_view_reads_the_status_fields():
    body = {"metadata": {"generation": 4}, "status": {
        "observedGeneration": 4, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1}}
    assert DeploymentView.of(body) == DeploymentView(4, 4, 2, 2, 1, 1)
    assert DeploymentView.of({"metadata": {"generation": 1}}) == DeploymentView(1, 0, 0, 0, 0, 0)


LEAKY = [
    "model download failed: InvalidURL: nonnumeric port: 'PASSWORD123@host'",
    "model download failed: http://alice:PASSWORD123@h/m.tar.gz?X-Amz-Signature=5ec7e75167a7 refused",
    "URL can't contain control characters. '/m tar.gz?X-Goog-Signature=5ec7e75167a7'",
]


def test_a_termination_message_with_credentials_reaches_neither_status_nor_events():
    """An older downloader (or any image) may write a secret into its termination message: the
    status, and the Events built from its conditions, show it masked."""
    pods = [PodView.of(pod_body(f"p{i}", init=[crashed("fetch-model", m)])) for i, m in enumerate(LEAKY)]
    for p in pods:
        st = status(deployment=dep(ready=0), pods=[p])
        for c in st["conditions"]:
            assert "PASSWORD123" not in c["message"] and "5ec7e75167a7" not in c["message"], c
        assert cond(st, "Ready")["reason"] == "ModelLoadFailed"


def test_a_spec_error_quoting_a_signed_url_is_masked():
    st = status(spec_error="the API server rejected Deployment x: env: https://h/m?sig=5ec7e75167a7 invalid")
    assert "5ec7e75167a7" not in cond(st, "Ready")["message"] and "https://h/m" in cond(st, "Ready")["message"]


def failing_new_pod(message="model download failed: 403 Forbidden"):
    return PodView.of(pod_body("new-1", init=[crashed("fetch-model", message)]))


def serving_old_pods(n=3):
    return [PodView.of(pod_body(f"old-{i}", phase_conditions=[{"type": "Ready", "status": "True"}]))
            for i in range(n)]


def test_a_new_spec_whose_model_fails_is_blocked_while_the_old_pods_keep_serving():
    # maxSurge 1 / maxUnavailable 0: three old pods ready, one new pod failing in its init container.
    rolling = dep(replicas=4, ready=3, updated=1, available=3)
    st = status(replicas=3, deployment=rolling, pods=[*serving_old_pods(), failing_new_pod()])
    ready, progressing, degraded = cond(st, "Ready"), cond(st, "Progressing"), cond(st, "Degraded")
    assert (ready["status"], ready["reason"]) == ("True", "Serving")
    assert ready["message"].startswith("3/3 replicas ready (of an earlier spec")
    assert (progressing["status"], progressing["reason"]) == ("False", "RolloutBlocked")
    assert "earlier pods keep serving" in progressing["message"] and "403 Forbidden" in progressing["message"]
    assert (degraded["status"], degraded["reason"]) == ("True", "ModelLoadFailed")


def test_a_rollout_past_its_progress_deadline_without_a_failing_pod_is_blocked_and_degraded():
    stalled = DeploymentView(2, 2, 4, 1, 3, 3, progress_deadline_exceeded=True)
    unready = PodView.of(pod_body("new-1", phase_conditions=[{"type": "Ready", "status": "False"}]))
    st = status(replicas=3, deployment=stalled, pods=[*serving_old_pods(), unready])
    assert (cond(st, "Ready")["status"], cond(st, "Progressing")["reason"]) == ("True", "RolloutBlocked")
    assert "progress deadline" in cond(st, "Progressing")["message"]
    # Argo CD's health check reads Degraded first: a stalled rollout is not Healthy.
    assert (cond(st, "Degraded")["status"], cond(st, "Degraded")["reason"]) == ("True", "RolloutBlocked")


def test_a_rollout_that_merely_takes_time_is_rolling_out_not_blocked():
    loading = PodView.of(pod_body("new-1", phase_conditions=[{"type": "Ready", "status": "False"}]))
    st = status(replicas=3, deployment=dep(replicas=4, ready=3, updated=1, available=3),
                pods=[*serving_old_pods(), loading])
    assert (cond(st, "Progressing")["status"], cond(st, "Progressing")["reason"]) == ("True", "RollingOut")
    assert cond(st, "Degraded")["status"] == "False" and "earlier spec" not in cond(st, "Ready")["message"]


def test_fixing_the_spec_completes_the_rollout_and_clears_the_block():
    blocked = status(replicas=3, deployment=dep(replicas=4, ready=3, updated=1, available=3),
                     pods=[*serving_old_pods(), failing_new_pod()])
    fixed = status(replicas=3, deployment=dep(replicas=3, ready=3), pods=serving_old_pods(),
                   previous=blocked["conditions"], now=T1)
    assert (cond(fixed, "Progressing")["status"], cond(fixed, "Progressing")["reason"]) == ("False", "RolloutComplete")
    assert (cond(fixed, "Degraded")["status"], cond(fixed, "Degraded")["reason"]) == ("False", "AsExpected")
    assert cond(fixed, "Ready")["message"] == "3/3 replicas ready"
    assert cond(fixed, "Ready")["lastTransitionTime"] == T0  # Ready never flipped


def test_a_failing_detector_with_nothing_serving_is_not_called_blocked():
    # A new detector, or a single-replica GPU detector whose one old pod the rollout took down.
    st = status(replicas=1, deployment=dep(replicas=1, ready=0, updated=1, available=0), pods=[failing_new_pod()])
    assert (cond(st, "Ready")["status"], cond(st, "Ready")["reason"]) == ("False", "ModelLoadFailed")
    assert cond(st, "Progressing")["reason"] == "RollingOut"


def test_a_serving_note_is_added_to_the_ready_message_only_while_serving():
    note = "a single replica: a node drain stops serving until its replacement is ready (2 or more keep serving)"
    serving = status(deployment=dep(), serving_note=note)
    assert cond(serving, "Ready")["message"] == f"1/1 replicas ready; {note}"
    assert note not in cond(status(deployment=dep(ready=0), serving_note=note), "Ready")["message"]


def test_a_forbidden_spec_is_not_ready_and_degraded_with_the_refusal():
    st = compute_status(
        generation=3, replicas=1, deployment=dep(ready=1), pods=(), previous_conditions=(), now=T0,
        selector="a=b", addresses=None, spec_error="spec.image 'x' is not from an allowed registry",
        spec_error_reason="Forbidden")
    # Old children may still serve, but not this spec: Ready says so.
    assert (cond(st, "Ready")["status"], cond(st, "Ready")["reason"]) == ("False", "Forbidden")
    assert cond(st, "Ready")["message"] == "spec.image 'x' is not from an allowed registry"
    assert (cond(st, "Degraded")["status"], cond(st, "Degraded")["reason"]) == ("True", "Forbidden")
    assert cond(st, "Progressing")["status"] == "False"


def test_a_server_restarted_after_a_failed_run_is_crash_looping_until_it_is_ready_again():
    # Between two back-offs the kubelet runs it again: still the same failure, not Deploying.
    failed_before = {"exitCode": 143, "reason": "Error", "message": "stopped by SIGTERM 21 s after the start"}
    running = {"name": "server", "ready": False, "restartCount": 1, "state": {"running": {}},
               "lastState": {"terminated": failed_before}}
    ready = cond(status(deployment=dep(ready=0), pods=[PodView.of(pod_body(containers=[running]))]), "Ready")
    assert ready["reason"] == "ServerCrashLooping" and "stopped by SIGTERM 21 s" in ready["message"]
    recovered = {**running, "ready": True}
    assert PodView.of(pod_body(containers=[recovered])).server_failure is None
    # A clean earlier exit (exit 0) is not a failure.
    clean = {**running, "lastState": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    assert PodView.of(pod_body(containers=[clean])).server_failure is None
