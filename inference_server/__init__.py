"""The shared TensorFlow object-detection server (and the init container's model downloader)."""

import os
from importlib import metadata


def _version() -> str:
    """pyproject.toml's version, the one owner, as the installed distribution records it."""
    try:
        return metadata.version("detector-operator")
    except metadata.PackageNotFoundError:
        # The image copies the sources without installing the distribution; Dockerfile.server
        # sets this from its VERSION build argument, which localimages passes from pyproject.toml.
        return os.environ.get("DETECTOR_VERSION", "0+unknown")


__version__ = _version()
