"""`limo-rl generate` user errors: exit code 2, a message naming the file/row/field, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The console-script entry point (`limo-rl`). (`python -m limo_rl.cli` works the same since the errors
# live in limo_rl.errors, which both load once.)
ENTRY = "import sys; from limo_rl.cli import main; sys.exit(main())"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ENTRY, "generate", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def test_bad_problems_row_is_named(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"id": "a", "question": "q?", "answer": "1"}\n{"id": "b", "answer": "2"}\n')
    res = _cli("--problems", str(f), "--model", str(tmp_path), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{f}:2: missing field 'question'" in res.stderr


def test_missing_out_and_bad_values(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"id": "a", "question": "q?", "answer": "1"}\n')
    res = _cli("--problems", str(f), "--model", str(tmp_path))
    assert res.returncode == 2 and "--out" in res.stderr
    res = _cli("--problems", str(f), "--model", str(tmp_path), "--out", str(tmp_path / "o"), "--n", "0")
    assert res.returncode == 2 and "--n" in res.stderr and "Traceback" not in res.stderr
    res = _cli("--problems", str(f), "--model", str(tmp_path / "absent"), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "no such folder" in res.stderr
    res = _cli("--problems", str(f), "--model", "m", "--out", "o", "--engine", "vllm")
    assert res.returncode == 2 and "pip install" in res.stderr
    assert not (tmp_path / "o").exists()
