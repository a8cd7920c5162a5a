"""Print the pinned requirement lines an image needs, read from pyproject.toml.

The Dockerfiles install dependencies in a layer of their own, before any source is copied, so a
source change does not reinstall TensorFlow. pyproject.toml stays the one place versions live.

    python pyproject_requirements.py pyproject.toml server --tf-package 'tensorflow[and-cuda]'

`--tf-package` swaps the distribution name of the TensorFlow requirement and keeps its version
range, which is how one Dockerfile gives the CPU and the GPU server images. `--no-deps` prints
instead what pyproject.toml's `[tool.detector-operator] no-deps` lists, to be installed with
`pip install --no-deps` (pyproject.toml says why). `--dist-info` instead records the project
itself as installed in the running interpreter's site-packages (see write_dist_info).
"""

from __future__ import annotations

import argparse
import re
import sys
import sysconfig
import tomllib
from pathlib import Path

# PEP 508 name (with optional extras) at the start of a requirement line.
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?")
_TENSORFLOW_NAMES = {"tensorflow", "tensorflow-cpu"}


def requirements(pyproject: dict, extra: str, tf_package: str | None = None) -> list[str]:
    """Core dependencies plus one extra; pure so the unit tests can call it."""
    project = pyproject["project"]
    extras = project.get("optional-dependencies", {})
    if extra not in extras:
        raise KeyError(f"pyproject.toml has no extra {extra!r}; known: {sorted(extras)}")
    lines = [*project.get("dependencies", []), *extras[extra]]
    if tf_package is None:
        return lines
    return [_swap_tensorflow(line, tf_package) for line in lines]


def no_deps(pyproject: dict) -> list[str]:
    return list(pyproject.get("tool", {}).get("detector-operator", {}).get("no-deps", []))


def _swap_tensorflow(line: str, tf_package: str) -> str:
    match = _NAME.match(line)
    if match is None or match.group(1).lower() not in _TENSORFLOW_NAMES:
        return line
    return tf_package + line[match.end():]


def write_dist_info(pyproject: dict, site_packages: Path) -> Path:
    """Record the project as installed (its name and version) in site_packages.

    An image runs the project's source from PYTHONPATH instead of installing it (a wheel would
    need the source before the dependency layer); this lets importlib.metadata answer there as in
    a pip-installed venv, so the package's __version__ has one owner: pyproject.toml.
    """
    name, version = pyproject["project"]["name"], pyproject["project"]["version"]
    folder = site_packages / f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (folder / "INSTALLER").write_text("pyproject_requirements.py\n")
    (folder / "RECORD").write_text("")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("extra", nargs="?")
    parser.add_argument("--tf-package", default=None)
    parser.add_argument("--no-deps", action="store_true", help="the requirements to install with --no-deps")
    parser.add_argument("--dist-info", action="store_true",
                        help="record the project as installed in this interpreter's site-packages")
    args = parser.parse_args(argv)
    data = tomllib.loads(args.pyproject.read_text())
    if args.dist_info:
        write_dist_info(data, Path(sysconfig.get_paths()["purelib"]))
        return 0
    if args.extra is None and not args.no_deps:
        parser.error("name the extra whose requirements to print")
    print("\n".join(no_deps(data) if args.no_deps else requirements(data, args.extra, args.tf_package)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
