"""detector-operator: serves TensorFlow object-detection models from ObjectDetector resources."""

from importlib.metadata import version

# pyproject.toml owns the version; an image records it too (Dockerfile.operator, --dist-info).
__version__ = version("detector-operator")
