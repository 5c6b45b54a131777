"""`ferrepro` itself: usage, --version, "did you mean", expected errors without a traceback, plain help."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ferrepro.cli import COMMANDS, expected_error_message, main, plain_words

REPO = Path(__file__).resolve().parents[1]


def test_bare_ferrepro_exits_2_with_its_usage(capsys):
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("usage: ferrepro <command>")
    assert all(name in captured.err for name in COMMANDS)


def test_help_exits_0_on_stdout(capsys):
    assert main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: ferrepro <command>")


def test_version_is_the_package_version(capsys):
    assert main(["--version"]) == 0
    declared = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)[1]
    assert capsys.readouterr().out.strip() == f"ferrepro {declared}"


@pytest.mark.parametrize(
    "typo,meant", [("trian", "train"), ("predcit", "predict"), ("show-conf", "show-config"), ("sumary", "summary")]
)
def test_mistyped_command_gets_did_you_mean(capsys, typo, meant):
    assert main([typo]) == 2
    err = capsys.readouterr().err
    assert f"unknown command {typo!r}; did you mean {meant!r}" in err.splitlines()[0]


def test_unrelated_word_gets_no_suggestion(capsys):
    assert main(["xyzzy"]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first == "ferrepro: unknown command 'xyzzy'"


def test_missing_config_file_is_an_error_message_not_a_traceback(tmp_path):
    """Seen: `ferrepro show-config --config nope.yaml` printed a FileNotFoundError traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "ferrepro", "show-config", "--config", "nope.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "ferrepro show-config: error: nope.yaml: no such file or directory; check the path"


def test_invalid_config_names_the_file_and_key(tmp_path, capsys):
    bad = tmp_path / "config.yaml"
    bad.write_text("preset: 3\n")
    assert main(["show-config", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ferrepro show-config: error: {bad} is invalid:") and "preset" in err


def test_yaml_syntax_error_is_an_error_message(tmp_path, capsys):
    bad = tmp_path / "config.yaml"
    bad.write_text("preset: [quick\n")
    assert main(["show-config", "--config", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("ferrepro show-config: error: invalid YAML:")


def test_a_bug_keeps_its_traceback():
    """Only expected errors are turned into messages: anything else is a bug and must stay visible."""
    assert expected_error_message(ZeroDivisionError("division by zero")) is None
    assert expected_error_message(KeyError("spec")) is None
    assert expected_error_message(OSError("no file name")) is None
    from ferrepro.config import ConfigError

    assert expected_error_message(ConfigError("config.yaml: bad key")) == "config.yaml: bad key"


def test_plain_words_removes_rst_markup():
    text = "Writes ``model.pt`` with :func:`torch.save`; see `config/README.md`."
    assert plain_words(text) == "Writes model.pt with torch.save; see config/README.md."


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_help_is_plain_words(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ")
    assert "`" not in out, f"ferrepro {command} --help shows reStructuredText markup"


def test_shell_flags_leave_out_empty_flags():
    """Seen: every train and evaluate command printed bare `--features  --landmarks-points`."""
    from ferrepro.cli import shell_flags

    assert shell_flags(features=[], landmarks_points=[]) == ""
    assert (
        shell_flags(features=["results/features/synthetic/hog.npy", "a b.npy"], landmarks_points=None)
        == "--features results/features/synthetic/hog.npy 'a b.npy'"
    )
    assert shell_flags(features=[], landmarks_points="p.npy") == "--landmarks-points p.npy"
