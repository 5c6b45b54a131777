"""Shared fixtures. Tests write their own tiny data; none needs the real datasets."""

from __future__ import annotations

import os
import shutil
import signal
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


@pytest.fixture(scope="session")
def split_csv(tiny_synthetic, tmp_path_factory) -> Path:
    """The subject-level split of ``tiny_synthetic`` (seed 0), shared by the training-level tests."""
    from ferrepro.data.splits import make_split
    from ferrepro.data.standard import load_decoded

    path = tmp_path_factory.mktemp("split") / "subject_seed0.csv"
    make_split(load_decoded(tiny_synthetic).samples, "subject", 0).to_csv(path, index=False)
    return path


def copy_workflow(dest: Path) -> Path:
    """Copy what `snakemake` needs (not results, not the venv) into a temp workspace."""
    for name in ("Snakefile", "workflow", "config", ".test", "src", "envs", "profiles"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def run_checked(cmd: list[str], cwd, env: dict, timeout: int = 900, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command for a test; on failure raise with the tail of its output (what a reader needs)."""
    # Its own process group: on a timeout the workflow's job processes are killed too, not orphaned
    # (subprocess.run would kill only snakemake itself and leave its training jobs running).
    with subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as child:
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            stdout, stderr = child.communicate()
            raise AssertionError(
                f"{' '.join(cmd)} timed out after {timeout} s:\n{stdout[-4000:]}\n{stderr[-4000:]}"
            ) from None
    proc = subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc
