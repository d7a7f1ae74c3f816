"""cli.py, run as the installed ``nemo-math`` script in real subprocesses, and in process for a missing stage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from nemo_math import cli

NEMO_MATH = Path(sys.executable).parent / "nemo-math"


def nemo_math(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(NEMO_MATH), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_help_lists_every_stage(tmp_path):
    result = nemo_math("--help", cwd=tmp_path)
    assert result.returncode == 0
    for name in cli.COMMANDS:
        assert name in result.stdout
    bare = nemo_math(cwd=tmp_path)
    assert bare.returncode == 2 and "usage: nemo-math" in bare.stdout


def test_print_config_and_bad_override(tmp_path):
    result = nemo_math("problems", "--print-config", "run_dir=/runs/x", "problems.near_dedup.num_perm=64",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "output_dir: /runs/x/problems" in result.stdout and "num_perm: 64" in result.stdout
    assert not (tmp_path / "outputs").exists()  # printing the config runs nothing
    bad = nemo_math("problems", "problems.nope=1", cwd=tmp_path)
    assert bad.returncode == 2
    assert "error: override 'problems.nope=1': problems.nope" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_missing_stage_module_says_not_built(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "ghost", ("nemo_math.ghost_stage", "a stage nobody wrote"))
    assert cli.main(["ghost"]) == 2
    assert "nemo-math ghost: not built yet (nemo_math.ghost_stage does not exist)" in capsys.readouterr().err
