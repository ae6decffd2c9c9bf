"""The CLI through a subprocess: help, config show/validate, runs show, error exits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "limo_rl.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_help_lists_commands():
    res = cli("--help")
    assert res.returncode == 0
    for cmd in ("config", "runs"):
        assert cmd in res.stdout


def test_config_show_with_both_override_forms():
    res = cli("config", "show", "recipes/quickstart.yaml", "select.budget=12", "--generate.n=3")
    assert res.returncode == 0, res.stderr
    assert "budget: 12" in res.stdout and "\n  n: 3\n" in res.stdout


def test_config_show_bad_recipe_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("select:\n  budgte: 3\n")
    res = cli("config", "show", str(bad))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "select.budgte" in res.stderr and "select.budget" in res.stderr and str(bad) in res.stderr


def test_config_validate_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "good.yaml").write_text("select: {budget: 5}\n")
    (tmp_path / "sub" / "bad.yaml").write_text("train: {epochs: -1}\n")
    res = cli("config", "validate", str(tmp_path))
    assert res.returncode == 1
    assert "bad.yaml" in res.stderr and "train.epochs" in res.stderr
    assert "ok   " in res.stdout and "good.yaml" in res.stdout
    assert cli("config", "validate", str(REPO / "recipes")).returncode == 0


def test_runs_show(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({
        "command": ["limo-rl", "run"], "status": "finished", "seeds": {"seed": 0},
        "stages": {"round1/generate": {"status": "done", "seconds": 3.25, "metrics": {"chains": 40}}},
        "headline": {"loop/round1/toy_eval/pass@1": 0.4},
    }))
    res = cli("runs", "show", str(run))
    assert res.returncode == 0, res.stderr
    assert "round1/generate" in res.stdout and "chains=40" in res.stdout and "pass@1" in res.stdout
    res = cli("runs", "show", str(tmp_path / "nope"))
    assert res.returncode == 2 and "manifest.json" in res.stderr
