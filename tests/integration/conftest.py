"""The kind tests (tests/integration/kind) bring up a real three-node cluster: they run only when
asked for (`make test-kind`, or DETECTOR_KIND_TESTS=1), not in every `pytest` run."""
from __future__ import annotations

import os

collect_ignore = [] if os.environ.get("DETECTOR_KIND_TESTS") == "1" else ["kind"]
