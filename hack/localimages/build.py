"""Build the project's images, each only when what it is built from changed.

buildah (daemonless) builds them unless a working docker engine is present, then docker does.
Either way the result is in podman's store too, where the tests run it. Each image is tagged
by its content key (context.content_key), so "is it built?" is one `image exists`.
"""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field

from localprocs import REPO

from . import base, context, engine

KEEP = 3  # content-keyed tags kept per image, newest first; older ones are removed after a build
# Host files mounted into RUN steps only, so pip reaches PyPI the way the host does (a proxy's
# CA bundle, an index URL in pip.conf); a mount never lands in a layer.
BUILD_MOUNTS = ("/etc/pip.conf", "/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class Spec:
    dockerfile: str
    repository: str
    variant: str = ""  # the tag prefix: "cpu" gives localhost/detector-server:cpu-<key>
    build_args: dict[str, str] = field(default_factory=dict)


IMAGES = {
    "operator": Spec("Dockerfile.operator", "localhost/detector-operator"),
    "server-cpu": Spec("Dockerfile.server", "localhost/detector-server", "cpu", {"TF_PACKAGE": "tensorflow-cpu"}),
    # CUDA and cuDNN wheels: about 3 GB more. Built on request (and in CI), not for the tests.
    "server-gpu": Spec("Dockerfile.server", "localhost/detector-server", "gpu", {"TF_PACKAGE": "tensorflow[and-cuda]"}),
}
DEFAULT = ("operator", "server-cpu")


@dataclass(frozen=True)
class Image:
    name: str
    ref: str
    base: base.Base
    built: bool  # False: it was already there
    seconds: float


def version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def ensure(names: Iterable[str] = DEFAULT, *, engine_choice: str = "auto", base_choice: str = "auto",
           podman_store: bool = True) -> dict[str, Image]:
    """Each named image, built when missing. podman_store: also make sure podman has it (the
    tests run images with podman; a docker build is copied over)."""
    names = list(names)
    unknown = sorted(set(names) - set(IMAGES))
    if unknown:
        raise engine.EngineError(f"unknown images {unknown}; known: {sorted(IMAGES)}")
    tool = engine_choice if engine_choice != "auto" else ("docker" if engine.docker_works() else "podman")
    if tool == "podman":
        engine.ensure_commands("buildah", "podman", "runc")
    if podman_store:  # what the tests' pods need
        engine.ensure_commands("podman", "runc", "catatonit", "slirp4netns")
    engine.configure()
    # One build at a time across every worktree and test run sharing the cache.
    with open(engine.ROOT / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        engines = engine.Engine(tool)
        base_image = base.resolve(engines, base_choice)
        return {name: _ensure_one(name, engines, base_image, podman_store) for name in names}


def ref_for(name: str, base_image: base.Base) -> str:
    spec = IMAGES[name]
    args = {**spec.build_args, "PYTHON_IMAGE": base_image.ref, "VERSION": version()}
    key = context.content_key(REPO, spec.dockerfile, args, base_image.image_id)[:16]
    return f"{spec.repository}:{spec.variant + '-' if spec.variant else ''}{key}"


def _ensure_one(name: str, tool: engine.Engine, base_image: base.Base, podman_store: bool) -> Image:
    spec = IMAGES[name]
    ref = ref_for(name, base_image)
    started = time.monotonic()
    have = tool.image_id(ref) is not None
    in_podman = tool.tool == "podman" or not podman_store or engine.Engine("podman").image_id(ref) is not None
    if have and in_podman:
        return Image(name, ref, base_image, built=False, seconds=time.monotonic() - started)
    if not have:
        engine.say(f"{name}: building {ref} from {spec.dockerfile} on {base_image.ref} with {tool.tool}"
                   + (" (cold: TensorFlow is a 600 MB download, about 4 min)" if "server" in name else ""))
        args = {**spec.build_args, "PYTHON_IMAGE": base_image.ref, "VERSION": version()}
        _build(tool.tool, spec, args, ref)
    if not in_podman:
        engine.say(f"{name}: copying {ref} from docker into podman's store")
        _docker_to_podman(ref)
    if tool.tool == "podman":
        _prune(spec, keep=ref)
    seconds = time.monotonic() - started
    engine.say(f"{name}: {ref} ready ({seconds:.0f}s)")
    return Image(name, ref, base_image, built=True, seconds=seconds)


def _build(tool: str, spec: Spec, args: dict[str, str], ref: str) -> None:
    arg_flags = [a for k, v in sorted(args.items()) for a in ("--build-arg", f"{k}={v}")]
    if tool == "docker":
        argv = ["docker", "build", "--progress=plain", "-f", spec.dockerfile, *arg_flags, "-t", ref, "."]
        show = r"#\d+ \[.*\] (FROM|RUN|COPY)"
    else:
        mounts = [a for path in BUILD_MOUNTS if os.path.isfile(path) for a in ("--volume", f"{path}:{path}:ro")]
        # chroot isolation: RUN steps need no OCI runtime; host network: pip reaches the index.
        argv = ["buildah", "build", "--pull=never", "--isolation", "chroot", "--network", "host", "--layers",
                *mounts, "-f", spec.dockerfile, *arg_flags, "-t", ref, "."]
        show = r"(\[\d+/\d+\] )?STEP |COMMIT |Successfully tagged"
    label = f"building {ref.split('/')[-1]}"
    engine.run_logged(argv, engine.LOGS / f"{ref.split('/')[-1].replace(':', '-')}.log",
                      label=label, show=show, cwd=REPO)


def tag(image: Image, name: str, engine_choice: str = "auto") -> None:
    """Give a built image another name (a release tag in CI; nothing here pushes)."""
    tool = engine_choice if engine_choice != "auto" else ("docker" if engine.docker_works() else "podman")
    engine.run([tool, "tag", image.ref, name])


def _docker_to_podman(ref: str) -> None:
    save = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE)
    assert save.stdout is not None  # stdout=PIPE
    try:
        engine.run_logged(["podman", "load"], engine.LOGS / "docker-to-podman.log", label="podman load",
                          stdin=save.stdout)
    finally:
        save.stdout.close()
        if save.wait() != 0:
            raise engine.EngineError(f"docker save {ref} exited {save.returncode}")


def _prune(spec: Spec, keep: str) -> None:
    """Remove all but the newest KEEP content-keyed tags of this image (shared layers stay)."""
    done = engine.run(["podman", "images", "--format", "json", "--filter", f"reference={spec.repository}"])
    prefix = f"{spec.repository}:{spec.variant + '-' if spec.variant else ''}"
    tagged = [(image.get("Created", 0), name) for image in json.loads(done.stdout or "[]")
              for name in image.get("Names") or []
              if name.startswith(prefix) and name != keep and (spec.variant or "-" not in name[len(prefix):])]
    for _, name in sorted(tagged, reverse=True)[KEEP - 1:]:
        engine.run(["podman", "rmi", name], check=False)  # in use elsewhere: left alone
