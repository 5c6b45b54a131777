"""Shared fixtures. Tests write their own tiny data; none needs the real datasets."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def venv_env() -> dict:
    """Environment for subprocesses: this interpreter's bin first, so `python`/`snakemake` are ours."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> Path:
    """A small synthetic dataset in the standard decoded format (8 subjects x 7 classes x 4 images)."""
    from ferrepro.data.synthetic import SyntheticSpec, write_synthetic

    out = tmp_path_factory.mktemp("decoded") / "synthetic"
    write_synthetic(SyntheticSpec(n_subjects=8, images_per_subject_per_class=4, size=48, seed=7), out)
    return out


def copy_workflow(dest: Path) -> Path:
    """Copy what `snakemake` needs (not results, not the venv) into a temp workspace."""
    for name in ("Snakefile", "workflow", "config", "src", "envs", "profiles"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def run_checked(cmd: list[str], cwd, env: dict, timeout: int = 900, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command for a test; on failure raise with the tail of its output (what a reader needs)."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc
