"""`make help` is generated from the Makefile, so it lists every target a user can run."""
from __future__ import annotations

import re
import subprocess

from localprocs import REPO


def test_every_phony_target_exists_has_help_text_and_appears_in_make_help():
    makefile = (REPO / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY:(.*)$", makefile, re.MULTILINE).group(1).split())
    targets = set(re.findall(r"^([a-zA-Z][\w-]*):", makefile, re.MULTILINE))
    documented = set(re.findall(r"^([a-zA-Z][\w-]*):.*## ", makefile, re.MULTILINE))
    assert phony <= targets, f"declared but not defined: {sorted(phony - targets)}"
    assert phony <= documented, f"targets without a `## help` comment: {sorted(phony - documented)}"
    shown = subprocess.run(["make", "--no-print-directory", "help"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout
    assert {t for t in phony if f"make {t} " not in shown} == set()
