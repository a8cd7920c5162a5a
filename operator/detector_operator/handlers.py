"""The thin kopf layer: credentials and settings at start, watches in, `WorkQueue.request` out.

Only watch-event handlers and indexes, no state-keeping handlers (on.create/update/delete):
kopf then keeps no progress or diff-base on the ObjectDetector and adds no finalizer, so the
operator writes nothing but `.status` (Argo CD sees no drift) and deleting an ObjectDetector
never waits for the operator; children go by ownerReference garbage collection.
Indexes hold small views (views.py) of the ObjectDetectors and their children; kopf fills them
before any handler runs, so the first sync after a restart already sees the existing children.
Each child kind's index and watch are registered from its row in children.KINDS (watch_child).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import kopf

from detector_operator import builders, children, kube, models, peering
from detector_operator.settings import Settings
from detector_operator.sync import Syncer
from detector_operator.views import Detector, Key, Observed
from detector_operator.workqueue import WorkQueue

OD = (models.GROUP, models.VERSION, models.PLURAL)
DETECTOR_LABEL = builders.DETECTOR_LABEL
# Any: kopf types its filter values with a token class it does not export.
OURS: dict[str, Any] = {builders.MANAGED_BY_LABEL: builders.MANAGED_BY, DETECTOR_LABEL: kopf.PRESENT}
CHILD_SELECTOR = f"{builders.MANAGED_BY_LABEL}={builders.MANAGED_BY},{DETECTOR_LABEL}"
# A burst of child events (a rollout's pods) settles into one sync this much later.
CHILD_SETTLE_SECONDS = 0.5
# Syncs at once: enough to keep the client's connections busy (each sync makes 2-3 requests),
# few enough that a burst of a thousand new detectors does not hold a thousand syncs' objects.
SYNC_CONCURRENCY = 32


class _NoDiffBase(kopf.DiffBaseStorage):
    """kopf deep-copies every watched object on every event to diff it for on.create/on.update
    handlers. This operator has none (watch handlers and indexes only), so the copy is never read;
    it was 80 % of the operator's CPU with 1000 detectors (bench/operator_scale.py --profile)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> Any:
        return None

    def fetch(self, *, body: kopf.Body) -> Any:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: Any) -> None:
        pass


@kopf.on.login()
async def login(**kwargs: Any) -> kopf.ConnectionInfo:
    """kopf authenticates exactly as kube.py does: credentials.load, over the official client's
    loader (kopf's own login_via_client reads the same loader, but into the client's global
    default configuration; this keeps one call for both).

    No expiration is known (the loader keeps an exec plugin's expiry to itself): when a token
    is refused, kopf calls this again and the loader runs the plugin or re-reads the token file.
    """
    creds = await kube.load_credentials()
    header = await asyncio.to_thread(creds.auth_header)
    scheme, _, token = (header or "").partition(" ")
    return kopf.ConnectionInfo(
        server=creds.server, ca_path=creds.ca_path, insecure=not creds.verify,
        scheme=scheme or None, token=token or None,
        certificate_path=creds.cert_path, private_key_path=creds.key_path,
    )


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config = Settings.from_env(os.environ)
    # Events are recorded by kube.py with reasons of our own, never from log lines.
    settings.posting.enabled = False
    # Without a server-side timeout a silently dropped watch hangs forever (kopf #204, #698).
    settings.watching.server_timeout = 60
    settings.watching.client_timeout = 90
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    # Watching named namespaces needs no cluster-wide scan of CRDs and namespaces, which a
    # namespaced install's Role forbids (kopf would retry the 403s for about a minute).
    settings.scanning.disabled = bool(config.watch_namespaces)
    settings.persistence.diffbase_storage = _NoDiffBase()
    memo.config = config
    memo.kube = await kube.Kube.connect()
    if not settings.peering.standalone and settings.peering.name:
        await peering.ensure(memo.kube, settings.peering.name, config.watch_namespaces)
    memo.syncer = Syncer(memo.kube, config, lookup=_no_lookup_yet)
    memo.queue = WorkQueue(memo.syncer.run, concurrency=SYNC_CONCURRENCY)
    memo.syncer.later = memo.queue.request_later
    # Only our children reach this process: the API server filters the child watches, so
    # thousands of unrelated pods cost neither memory nor CPU here.
    for child in children.KINDS:
        settings.watching.label_selectors[child.selector] = CHILD_SELECTOR


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    memo.queue.close()
    memo.syncer.close()
    await memo.kube.close()


def _no_lookup_yet(key: Key) -> Observed:
    return Observed(detector=None)


# --- indexes: what the watches have seen, by (namespace, detector name) ---

@kopf.index(*OD)
def detectors(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Key, Detector]:
    assert namespace is not None  # ObjectDetectors are namespaced (kopf types it for every kind)
    return {(namespace, name): Detector.of(body)}


def _bind(memo: kopf.Memo, indexes: dict[str, kopf.Index[Key, Any]]) -> WorkQueue[Key]:
    """Point the syncer at kopf's live indexes (they are only handed to handlers)."""
    syncer: Syncer = memo.syncer
    if syncer.lookup is _no_lookup_yet:
        ods = indexes["detectors"]
        kinds = [(child.kind, child.many, indexes[child.index]) for child in children.KINDS]

        def lookup(key: Key) -> Observed:
            return Observed(
                detector=next(iter(ods.get(key, [])), None),
                children={kind: tuple(index.get(key, [])) if many else next(iter(index.get(key, [])), None)
                          for kind, many, index in kinds},
            )

        syncer.lookup = lookup
    queue: WorkQueue[Key] = memo.queue
    return queue


# --- events: each one asks for a sync of the ObjectDetector it concerns ---

@kopf.on.event(*OD)
async def detector_event(namespace: str | None, name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    assert namespace is not None  # ObjectDetectors are namespaced
    await _bind(memo, kwargs).request((namespace, name))


# --- each child kind: an index of its views and a watch, registered from the table ---

def watch_child(child: children.Kind, registry: kopf.OperatorRegistry | None = None) -> None:
    """Register the index and the event handler of one child kind (children.KINDS)."""

    def index(namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Key, Any]:
        assert namespace is not None  # every child kind is namespaced
        view = child.view(body)
        # An empty mapping (not None, which kopf ignores) drops the object from the index
        # (a terminating pod says nothing about the current rollout).
        return {(namespace, labels[DETECTOR_LABEL]): view} if view is not None else {}

    async def event(type: str, namespace: str | None, labels: kopf.Labels, memo: kopf.Memo,
                    **kwargs: Any) -> None:
        assert namespace is not None  # every child kind is namespaced
        key = (namespace, labels[DETECTOR_LABEL])
        queue = _bind(memo, kwargs)
        if type == "DELETED" and child.repaired_when_deleted:
            memo.syncer.child_deleted(key, child.kind)
            await queue.request(key)  # drift: repair at once
        else:
            queue.request_later(key, CHILD_SETTLE_SECONDS)

    kopf.index(*child.selector, labels=OURS, id=child.index, registry=registry)(index)
    kopf.on.event(*child.selector, labels=OURS, id=f"{child.index}_event", registry=registry)(event)


for _child in children.KINDS:
    watch_child(_child)
