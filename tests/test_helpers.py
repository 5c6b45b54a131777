"""The test helpers themselves: a timed-out workflow must not leave its jobs running."""

import os
import time

import pytest
from conftest import run_checked


def test_a_timed_out_command_takes_its_children_with_it(tmp_path):
    pid_file = tmp_path / "child.pid"
    with pytest.raises(AssertionError, match="timed out after 1 s"):
        run_checked(["bash", "-c", f"sleep 60 & echo $! > {pid_file}; wait"], tmp_path, dict(os.environ), timeout=1)
    child = int(pid_file.read_text())
    # The background job must be gone, not orphaned (an orphan would sleep on for 60 s). On a loaded machine
    # the killed child can take a moment to be reaped by init, so poll rather than look once after 0.2 s.
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), f"the timed-out command's child {child} is still running"


def _alive(pid: int) -> bool:
    """Running (a killed process waiting to be reaped, a zombie, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_a_failing_command_reports_its_output(tmp_path):
    with pytest.raises(AssertionError, match="boom"):
        run_checked(["bash", "-c", "echo boom >&2; exit 3"], tmp_path, dict(os.environ))
    assert run_checked(["bash", "-c", "echo ok"], tmp_path, dict(os.environ)).stdout == "ok\n"
