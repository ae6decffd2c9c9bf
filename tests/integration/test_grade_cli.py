"""``limo-rl grade`` through a subprocess: graded rows keep input fields; bad input exits 2 before grading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "limo_rl.cli", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


@pytest.mark.slow
def test_grade_jsonl_round_trip(tmp_path):
    inp = tmp_path / "in.jsonl"
    rows = [
        {"id": "a", "output": "Let me verify: 2 + 2 = 4. \\boxed{4}", "gold": "4", "extra": [1, 2]},
        {"id": "b", "output": "so \\boxed{\\sqrt{8}}", "gold": "2\\sqrt{2}"},
        {"id": "c", "output": "no idea", "gold": "3"},
        {"id": "d", "output": "\\boxed{B}", "gold": "A", "answer_type": "choice"},
    ]
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    res = cli("-q", "grade", str(inp), "--out", str(out), "--workers", "1")
    assert res.returncode == 0, res.stderr
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["id"] for g in got] == ["a", "b", "c", "d"]
    assert [g["correct"] for g in got] == [True, True, False, False]
    assert [g["status"] for g in got] == ["ok", "ok", "no_answer", "ok"]
    assert got[0]["extra"] == [1, 2] and got[0]["verification_steps"] and got[0]["arithmetic_consistency"] == 1.0
    for key in ("extracted", "verification_density", "quality", "score"):
        assert key in got[1]
    assert "accuracy 0.5000" in res.stderr and "no_answer=1" in res.stderr and "/s" in res.stderr
    assert all(g["grader_version"] == "limo_rl-verify-4" for g in got) and "grader limo_rl-verify-4" in res.stderr


@pytest.mark.slow
def test_grade_modes_differ_where_math_verify_is_unsound(tmp_path):
    """--mode math_verify gives plain math-verify semantics (and says so); the default rejects what it accepts."""
    inp = tmp_path / "in.jsonl"
    rows = [
        {"output": "so \\boxed{0.3333333}", "gold": "\\frac{1}{3}"},  # a rounded decimal for an exact fraction
        {"output": "so \\boxed{\\{3,8\\}}", "gold": "(3,8)"},  # a set for a tuple
        {"output": "<think>\\boxed{5}", "gold": "5", "finish_reason": "length"},  # cut off in its thinking
        {"output": "so \\boxed{\\frac{3}{4}}", "gold": "0.75"},
    ]
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = {}
    for mode in ("limo_rl", "math_verify"):
        out = tmp_path / f"{mode}.jsonl"
        res = cli("-q", "grade", str(inp), "--out", str(out), "--workers", "1", "--mode", mode)
        assert res.returncode == 0, res.stderr
        got[mode] = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["correct"] for g in got["limo_rl"]] == [False, False, False, True]
    assert got["limo_rl"][2]["status"] == "no_answer"
    assert [g["correct"] for g in got["math_verify"]][:2] == [True, True] and got["math_verify"][3]["correct"]
    assert {g["grader_version"] for g in got["math_verify"]} == {"math_verify@limo_rl-verify-4"}


@pytest.mark.slow
@pytest.mark.parametrize("line,needle", [
    ('{"output": "x", "gold": "1"}\n{"output": "y"\n', "in.jsonl:2: not valid JSON"),
    ('{"output": "x", "gold": "1"}\n\n{"output": "y"}\n', "in.jsonl:3: missing field 'gold'"),
    ('{"gold": "1"}\n', "in.jsonl:1: missing field 'output'"),
    ('{"output": "x", "gold": null}\n', "in.jsonl:1: field 'gold' must be a string"),
])
def test_malformed_input_exits_2_before_grading(tmp_path, line, needle):
    inp = tmp_path / "in.jsonl"
    inp.write_text(line)
    out = tmp_path / "out.jsonl"
    res = cli("grade", str(inp), "--out", str(out))
    assert res.returncode == 2
    assert needle in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()
