"""Fixtures for the operator against the real local control plane.

`crds`: the generated CRD and kopf's peering CRDs, applied with kubectl and Established.
`operator`: the real `python -m detector_operator` as a subprocess (one per test module; each
test still gets its own namespace), so a test can also kill -9 it like a crashed pod.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.kube import CRD_NAME, apply_crds
from tests.support.operator_process import OperatorProcess


@pytest.fixture(scope="session")
def crds(kubeconfig: str) -> str:
    apply_crds()
    return CRD_NAME


@pytest.fixture(scope="module")
def operator(crds: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(tmp_path_factory.mktemp("operator")).start()
    yield proc
    proc.stop()


@pytest.fixture(autouse=True)
def _operator_log_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """Attach the operator's log tail to a failing test's report."""
    yield
    report = getattr(request.node, "rep_call", None)
    proc = request.node.funcargs.get("operator") if hasattr(request.node, "funcargs") else None
    if report is not None and report.failed and isinstance(proc, OperatorProcess):
        print(f"--- operator log ({proc.log_path}) ---\n{proc.log_tail()}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
