"""A client that keeps sending detections through a detector's Service from a pod in the cluster,
counting every answer and failure, while a test changes things under the detector."""
from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from localprocs import wait_for
from tests.support.kube import kubectl, kubectl_json

from .conftest import RESTRICTED_CONTAINER, RESTRICTED_POD

# Two kinds of callers, as real clients come. FRESH ones open a new connection for every request
# (urllib does not pool): each is routed afresh by kube-proxy, so one routed to a pod that has
# stopped listening fails. POOLED ones keep one connection alive as tritonclient, requests'
# Session and gRPC channels do: kube-proxy keeps such a connection on its pod whatever the
# endpoints say, so only the server can end it cleanly (by answering `Connection: close` while it
# still serves); a pod that simply closes it fails the caller's next request, if the caller was
# idle (between requests) when it closed. Each POOLED caller lands on a random pod and is idle
# about 90% of the time: with 2 of 3 pods ending and no drain delay, a caller fails with p ~ 0.6,
# and all 16 miss with p ~ 0.4^16 < 1e-6 (with 8 callers at 0.2 s, one run saw only 2 failures).
# Failures keep their time, for the timeline. Both go to the Service's ClusterIP, as kube-proxy
# routes it.
FRESH, FRESH_PAUSE = 4, 0.02
POOLED, POOLED_PAUSE = 16, 0.5
SCRIPT = """
import collections, http.client, io, json, os, socket, threading, time, urllib.parse, urllib.request
from PIL import Image
buf = io.BytesIO(); Image.new("RGB", (320, 240), (200, 40, 40)).save(buf, "JPEG")
body, url, path = buf.getvalue(), "{url}", "/v1/models/{model}:detect"
# The Service's name resolved once (cluster DNS is proven elsewhere): a hundred lookups a second
# through CoreDNS on a loaded machine could fail a request for a reason that is not on trial.
where = urllib.parse.urlsplit(url)
url = f"http://{{socket.gethostbyname(where.hostname)}}:{{where.port}}"
counts, failures, lock = collections.Counter(), [], threading.Lock()
deadline = time.monotonic() + 900

def sending():
    return not os.path.exists("/tmp/stop") and time.monotonic() < deadline

def record(outcome):
    with lock:
        counts[outcome] += 1
        if not outcome.startswith("200"):
            failures.append(round(time.time(), 2))
        with open("/tmp/answered", "w") as f:
            f.write(str(counts["200 fresh"] + counts["200 pooled"]))

def failure(e):
    return type(e).__name__ + ": " + str(getattr(e, "code", "") or getattr(e, "reason", "") or e)[:60]

def fresh():
    while sending():
        req = urllib.request.Request(url + path, data=body, headers={{"Content-Type": "image/jpeg"}})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                resp.read()
                record(f"{{resp.status}} fresh")
        except Exception as e:
            record(failure(e) + " (fresh)")
        time.sleep({fresh_pause})

def pooled():
    where = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    while sending():
        try:
            conn.request("POST", path, body=body, headers={{"Content-Type": "image/jpeg"}})
            resp = conn.getresponse()
            resp.read()
            record(f"{{resp.status}} pooled")
        except Exception as e:
            record(failure(e) + " (pooled)")
            conn.close()  # the next request opens a new connection, as a pool would
        time.sleep({pooled_pause})

threads = [threading.Thread(target=fresh) for _ in range({fresh})]
threads += [threading.Thread(target=pooled) for _ in range({pooled})]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({{"counts": counts, "failures": failures}}))
"""


@dataclass
class Outcome:
    counts: Counter[str]
    failure_times: list[float] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def answered(self) -> int:
        return self.counts["200 fresh"] + self.counts["200 pooled"]

    @property
    def failed(self) -> int:
        return self.total - self.answered


class TrafficPod:
    """`with TrafficPod(ns, url, model, image) as traffic: ...; outcome = traffic.stop()`."""

    def __init__(self, namespace: str, url: str, model: str, image: str) -> None:
        self.namespace, self.name = namespace, f"traffic-{uuid.uuid4().hex[:6]}"
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": self.name},
               "spec": {"restartPolicy": "Never", "securityContext": RESTRICTED_POD,
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                        "containers": [{"name": "client", "image": image, "imagePullPolicy": "IfNotPresent",
                                        "command": ["python", "-c", SCRIPT.format(
                                            url=url, model=model, fresh=FRESH, fresh_pause=FRESH_PAUSE,
                                            pooled=POOLED, pooled_pause=POOLED_PAUSE)],
                                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                                        **RESTRICTED_CONTAINER}]}}
        kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(pod))
        wait_for(lambda: self._phase() == "Running", timeout=120, interval=0.5, message=f"{self.name} running")
        self.started = time.time()

    def _phase(self) -> str:
        return kubectl_json("-n", self.namespace, "get", "pod", self.name).get("status", {}).get("phase", "")

    def wait_for_answers(self, count: int = 20, timeout: float = 60) -> None:
        """Until the client has had `count` answers: past its imports and really sending."""
        def answered() -> bool:
            read = kubectl("-n", self.namespace, "exec", self.name, "--", "cat", "/tmp/answered", check=False)
            return read.returncode == 0 and read.stdout.strip().isdigit() and int(read.stdout) >= count

        wait_for(answered, timeout=timeout, interval=1, message=f"{self.name} getting answers")

    def stop(self) -> Outcome:
        kubectl("-n", self.namespace, "exec", self.name, "--", "python", "-c", "open('/tmp/stop', 'w').close()")
        phase = wait_for(lambda: (p := self._phase()) in ("Succeeded", "Failed") and p, timeout=60, interval=0.5,
                         message=f"{self.name} to finish")
        log = kubectl("-n", self.namespace, "logs", self.name).stdout
        assert phase == "Succeeded", log
        result = json.loads(log.splitlines()[-1])
        return Outcome(Counter(result["counts"]), result["failures"])

    def __enter__(self) -> TrafficPod:
        return self

    def __exit__(self, *exc: object) -> None:
        kubectl("-n", self.namespace, "delete", "pod", self.name, "--wait=false", check=False)
