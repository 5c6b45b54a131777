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
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # the background job is gone, not orphaned


def test_a_failing_command_reports_its_output(tmp_path):
    with pytest.raises(AssertionError, match="boom"):
        run_checked(["bash", "-c", "echo boom >&2; exit 3"], tmp_path, dict(os.environ))
    assert run_checked(["bash", "-c", "echo ok"], tmp_path, dict(os.environ)).stdout == "ok\n"
