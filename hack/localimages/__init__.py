"""The project's container images, built without a Docker engine and cached by content.

    python -m localimages build [operator server-cpu server-gpu]   # make images
    eval "$(python -m localimages env)"; podman images              # the same store by hand

`ensure()` is what the tests call: each image built only when its Dockerfile, build arguments,
base image or build context changed, and present in podman's store on return.
"""
from .base import STANDIN_LABEL, registry_base
from .build import DEFAULT, IMAGES, Image, ensure
from .engine import ROOT, EngineError, configure, env

__all__ = ["DEFAULT", "IMAGES", "ROOT", "STANDIN_LABEL", "EngineError", "Image", "configure", "ensure", "env",
           "registry_base"]
