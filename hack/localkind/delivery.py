"""Getting the project's images into the kind nodes' containerd, two ways (`--via`):

load: `podman save` + `kind load image-archive`: the whole image goes to every node on every load
  (the server image is ~1.8 GB), so a load is skipped when the node already has the image by its
  content-keyed tag (localimages tags every build by what it was built from: a changed image has a
  new tag, an unchanged one is never sent again).
registry: `podman push` to the cluster's own registry (distribution, on the host, bound to the kind
  network's gateway only, its storage kept in the cache across clusters); the nodes pull from it
  (containerd hosts.toml), so only layers the registry or a node lacks move: after a one-line
  change, the changed top layer.
Either way the name pods use is returned: the same ref for load, <gateway>:<port>/<repo>:<tag>
for the registry.
"""
from __future__ import annotations

import json
import subprocess
import time

from localimages import engine

from .cluster import KindCluster, KindError, parts


def node_has(cluster: KindCluster, tool: str, node: str, ref: str) -> bool:
    out = subprocess.run([tool, "exec", node, "ctr", "-n", "k8s.io", "images", "ls", "-q", f"name=={_full(ref)}"],
                         env=cluster.env(tool), capture_output=True, text=True, timeout=60)
    return out.returncode == 0 and bool(out.stdout.strip())


def _full(ref: str) -> str:
    """The name containerd stores: localhost/x:t stays, a short docker.io name is expanded."""
    first = ref.split("/")[0]
    if "." in first or ":" in first or first == "localhost":
        return ref
    return f"docker.io/{ref}" if "/" in ref else f"docker.io/library/{ref}"


def load(cluster: KindCluster, refs: list[str]) -> dict[str, float]:
    """Each image into every node that lacks it; seconds spent per image (0 when all had it)."""
    tool = cluster.state().get("provider", "podman")
    nodes = cluster.nodes(tool)
    spent: dict[str, float] = {}
    for ref in refs:
        missing = [n for n in nodes if not node_has(cluster, tool, n, ref)]
        if not missing:
            cluster.say(f"images: {ref} already on every node")
            spent[ref] = 0.0
            continue
        work = engine.ROOT / "tmp" / "kind-load"
        work.mkdir(parents=True, exist_ok=True)
        archive = work / "image.tar"
        started = time.monotonic()
        try:
            size = image_sizes([ref]).get(ref, 0)
            cluster.say(f"images: podman save {ref} ({size / 1e9:.1f} GB)")
            engine.run([tool, "save", "--format", "docker-archive", "-o", str(archive), ref], timeout=900)
            saved = time.monotonic() - started
            cluster.say(f"images: kind load image-archive into {', '.join(missing)} ({saved:.0f}s to save; "
                        "the whole image to each node: the 1.8 GB server took 70 s for 3 nodes)")
            cluster.kind(["load", "image-archive", str(archive), "--name", cluster.name, "--nodes", ",".join(missing)],
                         tool, timeout=1800)
        finally:
            archive.unlink(missing_ok=True)
        spent[ref] = time.monotonic() - started
        cluster.say(f"images: {ref} loaded in {spent[ref]:.0f}s")
    still = [(n, r) for r in refs for n in nodes if not node_has(cluster, tool, n, r)]
    if still:
        raise KindError(f"images missing on nodes after loading: {still}")
    return spent


def push(cluster: KindCluster, refs: list[str]) -> dict[str, str]:
    """Each image pushed to the cluster's registry; the names the nodes pull them by."""
    registry = cluster.registry_address()
    names = {}
    for ref in refs:
        name = f"{registry}/{ref.split('/', 1)[1] if ref.startswith('localhost/') else ref}"
        started = time.monotonic()
        cluster.say(f"images: podman push {ref} -> {name} (only layers the registry lacks)")
        engine.run(["podman", "push", "--quiet", "--tls-verify=false", ref, f"docker://{name}"], timeout=1800)
        cluster.say(f"images: pushed {name} in {time.monotonic() - started:.0f}s")
        names[ref] = name
    return names


def image_sizes(refs: list[str]) -> dict[str, int]:
    found = {}
    for ref in refs:
        found[ref] = int(json.loads(engine.run(["podman", "image", "inspect", ref]).stdout)[0]["Size"])
    return found


__all__ = ["image_sizes", "load", "node_has", "parts", "push"]
