"""The Python base image: the registry's python:3.11.14-slim-bookworm, or a stand-in.

Where no container registry is reachable (this project's machines), the stand-in is built from
Debian packages alone: mmdebstrap of bookworm with its python3.11 (3.11.2), made to look like
python:slim where the Dockerfiles rely on it (`python` on PATH, venv with ensurepip,
ca-certificates, /tmp 1777, LANG=C.UTF-8). It is a local build input, labelled as a stand-in
and never pushed; images built on it inherit that label. It is cached in the container storage
under a tag keyed by its recipe, so it is built once (about 2 minutes).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from localprocs import REPO

from . import engine

STANDIN_REPO = "localhost/detector-base-standin"
STANDIN_LABEL = "dev.detector-operator.stand-in-base"
SUITE = "bookworm"
MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# merged-usr without the usrmerge package (which pulls in perl: 50 MB); no docs, man pages or
# translations, as python:slim; copyright files stay.
MMDEBSTRAP_OPTIONS = (
    "--variant=apt",
    "--include=python3.11,python3.11-venv,ca-certificates",
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    # python:slim has python and python3 in /usr/local/bin; Debian only /usr/bin/python3.11.
    '--customize-hook=ln -s /usr/bin/python3.11 "$1/usr/local/bin/python3"',
    '--customize-hook=ln -s /usr/bin/python3.11 "$1/usr/local/bin/python"',
)
CONFIG = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)


@dataclass(frozen=True)
class Base:
    ref: str
    image_id: str
    standin: bool


def registry_base() -> str:
    """The base both Dockerfiles name (their PYTHON_IMAGE default); they must agree."""
    found = {f: re.search(r"^ARG PYTHON_IMAGE=(\S+)$", (REPO / f).read_text(), re.MULTILINE)
             for f in ("Dockerfile.operator", "Dockerfile.server")}
    missing = sorted(f for f, match in found.items() if match is None)
    if missing:
        raise engine.EngineError(f"{missing} declare no `ARG PYTHON_IMAGE=` default")
    defaults = {match.group(1) for match in found.values() if match is not None}
    if len(defaults) != 1:
        raise engine.EngineError(f"the Dockerfiles name different bases: {sorted(defaults)}")
    return defaults.pop()


def standin_ref() -> str:
    recipe = "\n".join((SUITE, *MIRRORS, *MMDEBSTRAP_OPTIONS, *CONFIG))
    return f"{STANDIN_REPO}:{SUITE}-python3.11-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def _description(registry: str) -> str:
    return (f"Stand-in for {registry}, built from Debian {SUITE} packages (its python3.11) because no "
            "container registry was reachable. Local builds only: never push it or images built on it.")


def resolve(tool: engine.Engine, choice: str = "auto") -> Base:
    """The base to build on. choice: auto (the registry's when it can be had, else the stand-in),
    registry or standin."""
    registry = registry_base()
    if choice in ("auto", "registry"):
        local_ref = registry if tool.tool == "docker" else f"docker.io/library/{registry}"
        image_id = tool.image_id(local_ref)
        if image_id is None and tool.pull(registry):
            engine.say(f"base: pulled {registry}")
            image_id = tool.image_id(local_ref)
        if image_id is not None:
            return Base(local_ref, image_id, standin=False)
        if choice == "registry":
            raise engine.EngineError(f"cannot pull {registry} and --base registry was asked for")
        engine.say(f"base: {registry} cannot be pulled (no registry reachable): the Debian stand-in instead")
    ref = standin_ref()
    image_id = tool.image_id(ref)
    if image_id is None:
        build_standin(tool, ref, registry)
        image_id = tool.image_id(ref)
    if image_id is None:
        raise engine.EngineError(f"the stand-in base {ref} was built but {tool.tool} does not list it")
    return Base(ref, image_id, standin=True)


def build_standin(tool: engine.Engine, ref: str, registry: str) -> None:
    engine.ensure_commands("mmdebstrap")
    engine.say(f"base: building the stand-in {ref} with mmdebstrap ({SUITE}, python3.11; about 2 min cold)")
    work = engine.ROOT / "tmp" / "standin"
    work.mkdir(parents=True, exist_ok=True)
    tarball = work / "rootfs.tar"
    try:
        engine.run_logged(["mmdebstrap", *MMDEBSTRAP_OPTIONS, SUITE, str(tarball), *MIRRORS],
                          engine.LOGS / "standin-base.log", label="building the stand-in base",
                          show=r"I: (running apt-get update|downloading|extracting|installing|success)")
        tool.import_rootfs(tarball, ref, [*CONFIG, f'LABEL {STANDIN_LABEL}="{registry}"',
                                          f'LABEL org.opencontainers.image.description="{_description(registry)}"'])
    finally:
        tarball.unlink(missing_ok=True)
    engine.say(f"base: stand-in {ref} ready")
