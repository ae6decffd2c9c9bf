"""``limo-rl train`` ad hoc mode: user errors exit 2 with the file, line and field, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "limo_rl.cli", "train", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_train_help_shows_both_modes():
    res = cli("--help")
    assert res.returncode == 0
    assert "--data" in res.stdout and "--model" in res.stdout and "RECIPE" in res.stdout.upper()


def test_adhoc_needs_all_three_paths(tmp_path):
    res = cli("--data", str(tmp_path / "x.jsonl"))
    assert res.returncode == 2 and "--data FILE --model PATH --out DIR" in res.stderr
    assert "Traceback" not in res.stderr


def test_adhoc_bad_row_names_file_line_and_field(tmp_path, tiny_model_dir):
    data = tmp_path / "sft.jsonl"
    good = {"id": "a", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "r"}]}
    bad = {"id": "b", "messages": [{"role": "user", "content": "q"}, {"role": "bot", "content": "r"}]}
    data.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    res = cli("--data", str(data), "--model", str(tiny_model_dir), "--out", str(tmp_path / "out"))
    assert res.returncode == 2, res.stderr
    assert f"{data}:2" in res.stderr and "messages[1].role = 'bot'" in res.stderr
    assert "Traceback" not in res.stderr


def test_adhoc_rejects_missing_model_and_foreign_overrides(tmp_path):
    data = tmp_path / "sft.jsonl"
    data.write_text(json.dumps({"id": "a", "messages": [{"role": "user", "content": "q"},
                                                        {"role": "assistant", "content": "r"}]}) + "\n")
    res = cli("--data", str(data), "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and "folder not found" in res.stderr and "Traceback" not in res.stderr
    res = cli("--data", str(data), "--model", str(tmp_path), "--out", str(tmp_path / "o"), "select.budget=3")
    assert res.returncode == 2 and "only train.* overrides" in res.stderr
    res = cli("--data", str(data), "--model", str(tmp_path), "--out", str(tmp_path / "o"), "train.epochs=0")
    assert res.returncode == 2 and "train.epochs" in res.stderr
