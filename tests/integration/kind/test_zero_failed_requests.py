"""Zero failed requests while the platform changes things under a detector, on real pods: a client
in the cluster keeps sending detections through the Service during a model rollout, a node drain
and a scale-down. The server's drain delay (it keeps serving, unready, until endpoint removal has
reached kube-proxy) is what keeps the count at zero: without it, the same scale-down fails requests."""
from __future__ import annotations

import pytest

from . import disruptions
from .conftest import Kind

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("scenario", ["rollout", "drain", "scale-down"])
def test_no_request_fails_while_pods_end(kind: Kind, ns: str, scenario: str) -> None:
    run = disruptions.SCENARIOS[scenario](kind, ns)
    print(f"\nDISRUPTION {run.line(scenario, None)}")
    assert run.outcome.answered >= 50, run.outcome.counts  # the client really sent through it
    assert run.outcome.failed == 0, run.line(scenario, None)


def test_without_the_drain_delay_the_same_scale_down_fails_requests(kind: Kind, ns: str) -> None:
    # The proof that the test above can fail: the server stops accepting at SIGTERM, while
    # kube-proxy still routes new connections to it for a moment.
    run = disruptions.scale_down(kind, ns, drain_delay=0)
    print(f"\nDISRUPTION {run.line('scale-down', 0)}")
    assert run.outcome.answered >= 50, run.outcome.counts
    assert run.outcome.failed > 0, run.line("scale-down", 0)
