"""Wire formats: pydantic request/response models and pure decode/encode functions (no I/O)."""
