"""Where a number comes from: the code (git commit, dirty tree), the software and the machine.

Every per-run output carries these fields (plus the run's spec digest and the digest of the decoded
data it read), so that a number in a table can be traced to the exact code, settings and data behind it.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def code_version() -> dict:
    """{"commit": sha or None (not a git checkout), "dirty": whether tracked files differ from it}.

    Untracked files are ignored: results/, .venv and other ignored outputs never make a tree dirty, and
    an untracked source file is a developer's scratch that no committed number can depend on.
    """
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def software_versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("torch", "lightning", "numpy", "scikit-learn"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def machine(gpu: str | None = None) -> dict:
    """The host in words: CPU model and core count, and ``gpu`` (the caller's torch device name, if any).

    No torch import here: the data rules record provenance too, and their environment has no torch.
    """
    import os

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu}


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
