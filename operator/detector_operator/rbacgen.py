"""Generate the operator's RBAC for every overlay (`make rbac`).

The rules come from two places: the child kinds (children.KINDS, each granted exactly the verbs
its role needs: list/watch to index it, create/patch to apply it, delete when optional) and the
fixed rules below, for kopf itself (Framework) and the operator's own calls (Application), grouped
as kopf's deployment-rbac.yaml groups them. `python -m detector_operator.rbacgen cluster` prints
deploy/base/rbac.yaml (a ClusterRole), `... namespaced` deploy/overlays/namespaced/role.yaml (a
Role: the same rules minus the cluster-scoped ones, peering in its namespaced form). A unit test
fails when either committed file drifts.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass

from detector_operator import children, models, peering

NAME = "detector-operator"  # the ServiceAccount, the role and its binding


@dataclass(frozen=True)
class Rule:
    group: str  # "" for the core group
    resource: str
    verbs: tuple[str, ...]
    why: str  # the comment above the rule, starting "Framework:" or "Application:"
    cluster_only: bool = False  # cluster-scoped: not in a namespaced Role


def _peering(resource: str, cluster_only: bool) -> Rule:
    return Rule(peering.GROUP, resource, ("list", "watch", "create", "patch"), cluster_only=cluster_only,
                why="Framework: peering, so a second operator replica (or a local debug run) stays idle. "
                    "The operator creates its peering object at start-up (create); kopf watches it and "
                    "patches in its keep-alives.")


def rules(scope: str) -> list[Rule]:
    """Every rule of the operator's role; scope "cluster" or "namespaced"."""
    cluster = scope == "cluster"
    fixed = [
        Rule("apiextensions.k8s.io", "customresourcedefinitions", ("list", "watch"), cluster_only=True,
             why="Framework: kopf notices CRDs being added or changed while it runs."),
        _peering(peering.CLUSTER_PEERING.plural, cluster_only=True) if cluster
        else _peering(peering.NAMESPACED_PEERING.plural, cluster_only=False),
        Rule("", "events", ("create",),
             why="Application: Events on ObjectDetectors (Deploying, ModelLoadFailed, ...). Only created."),
        Rule(models.GROUP, models.PLURAL, ("get", "list", "watch"),
             why="Application: watch ObjectDetectors and read one before writing its status. No patch: "
                 "the operator has no finalizer or annotations of its own on them, so Argo CD sees no drift."),
        Rule(models.GROUP, f"{models.PLURAL}/status", ("patch",),
             why="Application: report status (Ready/Progressing/Degraded, replicas, url)."),
        Rule(models.GROUP, f"{models.PLURAL}/finalizers", ("update",),
             why="Application: children carry blockOwnerDeletion owner references, which need this "
                 "where the OwnerReferencesPermissionEnforcement admission plugin is on."),
    ]
    owned = [Rule(k.group, k.plural, tuple(k.verbs), why=f"Application: {k.why}") for k in children.KINDS]
    reads = [Rule("", "persistentvolumeclaims", ("get",),
                  why="Application: check that a pvc:// model's claim exists (ClaimNotFound) before deploying."),
             Rule("", "secrets", ("get",),
                  why="Application: check that a Secret the spec names (credentialsSecret, modelUriFrom) "
                      "carries the opt-in label (policy.py), read by name as metadata only "
                      "(PartialObjectMetadata). No list or watch: the operator cannot enumerate Secrets. "
                      "Whoever may create Deployments can mount any Secret of the namespace, so this adds "
                      "no reach the operator lacked; the label stops tenants from borrowing that reach.")]
    return [r for r in fixed + owned + reads if cluster or not r.cluster_only]


def _flow(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(i or '""' for i in items) + "]"


def _rule_text(rule: Rule) -> str:
    comment = textwrap.fill(rule.why, width=98, initial_indent="  # ", subsequent_indent="  # ")
    return (f"{comment}\n  - apiGroups: {_flow([rule.group])}\n    resources: [{rule.resource}]\n"
            f"    verbs: {_flow(rule.verbs)}\n")


HEADERS = {
    "cluster": (
        "# Least privilege for the operator: only the verbs and resources it uses. Secrets only by\n"
        "# name (get, metadata), no ConfigMaps; deletes only of optional child kinds (children go with\n"
        "# their ObjectDetector through owner references). Rules grouped as in kopf's\n"
        "# deployment-rbac.yaml: Framework (kopf itself), Application (ours).\n"
    ),
    "namespaced": (
        "# The base ClusterRole's namespaced rules, granted in this namespace only. Left out, on purpose:\n"
        "# CRDs and namespaces (cluster-scoped; kopf logs that it cannot watch them and carries on with\n"
        "# the namespace it was given).\n"
    ),
}
GENERATED = ("# Generated by `make rbac` (python -m detector_operator.rbacgen {scope}) from the child kinds\n"
             "# in operator/detector_operator/children.py and the rules in rbacgen.py: do not edit by hand.\n")


def render(scope: str) -> str:
    if scope not in HEADERS:
        raise ValueError(f"scope must be one of {sorted(HEADERS)}, not {scope!r}")
    role = "ClusterRole" if scope == "cluster" else "Role"
    return (
        GENERATED.format(scope=scope) + HEADERS[scope]
        + f"apiVersion: rbac.authorization.k8s.io/v1\nkind: {role}\nmetadata:\n  name: {NAME}\nrules:\n"
        + "".join(_rule_text(r) for r in rules(scope))
        + f"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {role}Binding\nmetadata:\n  name: {NAME}\n"
        + f"roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: {role}\n  name: {NAME}\n"
        + f"subjects:\n  - kind: ServiceAccount\n    name: {NAME}\n"
    )


if __name__ == "__main__":
    sys.stdout.write(render(sys.argv[1] if len(sys.argv) > 1 else "cluster"))
