"""A git server on 127.0.0.1 holding one bare repository, and a working clone to commit to.

Argo CD's repo server clones `url` over git:// as it would clone GitHub: `git-daemon` is started
directly, so the PID we track is the listener itself.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import localprocs

GIT_DAEMON = "/usr/lib/git-core/git-daemon"
BRANCH = "main"
AUTHOR = ["-c", "user.name=detector-operator tests", "-c", "user.email=tests@detector-operator.invalid"]


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *AUTHOR, *args], cwd=cwd, text=True, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout.strip()


@dataclass
class GitRepo:
    """root: where the bare repository and the working clone live."""

    root: Path
    name: str = "detector-operator.git"

    @property
    def bare(self) -> Path:
        return self.root / "served" / self.name

    @property
    def work(self) -> Path:
        return self.root / "work"

    def create(self) -> None:
        """An empty bare repository with a working clone whose commits are pushed to it."""
        self.bare.mkdir(parents=True)
        git("init", "--quiet", "--bare", f"--initial-branch={BRANCH}", str(self.bare), cwd=self.root)
        git("clone", "--quiet", str(self.bare), str(self.work), cwd=self.root)
        git("checkout", "--quiet", "-B", BRANCH, cwd=self.work)

    def serve(self, port: int, log_path: Path) -> int:
        """Start git-daemon for the bare repository on 127.0.0.1:port; returns its PID."""
        proc = localprocs.start([GIT_DAEMON, "--reuseaddr", "--export-all", "--informative-errors",
                                 f"--base-path={self.bare.parent}", "--listen=127.0.0.1", f"--port={port}",
                                 str(self.bare.parent)], log_path)
        localprocs.wait_for(lambda: proc.poll() is None and localprocs.port_taken(port), timeout=15,
                            message=f"git-daemon on 127.0.0.1:{port} ({log_path})")
        return proc.pid

    def url(self, port: int) -> str:
        return f"git://127.0.0.1:{port}/{self.name}"

    def commit(self, files: dict[str, str | None], message: str) -> str:
        """Write (or, for None, delete) files relative to the repository root, commit, push; the
        new commit's SHA. A commit that changes nothing is an error: the caller expected a change."""
        for rel, text in files.items():
            path = self.work / rel
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        git("add", "--all", ".", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", f"HEAD:{BRANCH}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def copy_tree(self, source: Path, rel: str) -> None:
        """Replace `rel` in the working clone by a copy of `source` (committed by the next commit)."""
        dest = self.work / rel
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(source, dest)

    def read(self, rel: str) -> str:
        return (self.work / rel).read_text()
