"""kopf's peering objects: what kopf needs to exist so replicas of the operator see each other.

kopf reads and writes these objects but never creates them; the operator creates its own at
start-up (through kube.py, the one module that talks to the API server), so a second replica or
a restarted pod finds them whatever installed the operator.
"""

from __future__ import annotations

import logging
from typing import Any

from detector_operator import kube
from detector_operator.children import Resource

log = logging.getLogger(__name__)

GROUP = "kopf.dev"
API = f"/apis/{GROUP}/v1"
CLUSTER_PEERING = Resource(API, "clusterkopfpeerings", namespaced=False)
NAMESPACED_PEERING = Resource(API, "kopfpeerings")


def peering_objects(name: str, namespaces: tuple[str, ...]) -> list[tuple[Resource, dict[str, Any]]]:
    """One ClusterKopfPeering when watching the whole cluster, else a KopfPeering per namespace."""
    if not namespaces:
        return [(CLUSTER_PEERING, {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering",
                                   "metadata": {"name": name}})]
    return [(NAMESPACED_PEERING, {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering",
                                  "metadata": {"name": name, "namespace": ns}}) for ns in namespaces]


async def ensure(client: kube.Kube, name: str, namespaces: tuple[str, ...]) -> None:
    for resource, obj in peering_objects(name, namespaces):
        try:
            await client.create(resource, obj)
        except kube.KubeError as e:
            # kopf reports a missing peering object itself; say why it could not be made.
            log.warning("could not create %s %s: %s", obj["kind"], name, e)
