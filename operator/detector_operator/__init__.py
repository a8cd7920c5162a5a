"""detector-operator: serves TensorFlow object-detection models from ObjectDetector resources."""

__version__ = "0.1.0"
