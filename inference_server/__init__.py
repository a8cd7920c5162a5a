"""The shared TensorFlow object-detection server (and the init container's model downloader)."""

__version__ = "0.1.0"
