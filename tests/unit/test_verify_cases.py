"""The labeled equivalence set (tests/data/verify_cases.jsonl): per-category accuracy and false positives.

Run with ``-s`` to see the table. A false positive trains the student on a wrong chain, so
none is allowed; overall accuracy must stay at or above 97%.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from limo_rl.config import VerifyConfig
from limo_rl.verify.grade import Grader

CASES = Path(__file__).resolve().parents[1] / "data" / "verify_cases.jsonl"


def load_cases() -> list[dict]:
    rows = [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]
    for n, r in enumerate(rows, 1):
        assert {"category", "gold", "pred", "equal"} <= r.keys(), f"{CASES}:{n}: missing fields"
    return rows


def score_cases(grader: Grader, rows: list[dict]) -> dict[str, dict[str, int]]:
    got = grader.equal_many([(r["gold"], r["pred"], r.get("answer_type", "auto")) for r in rows])
    table: dict[str, dict[str, int]] = defaultdict(lambda: {"n": 0, "right": 0, "fp": 0, "fn": 0})
    for r, g in zip(rows, got, strict=True):
        t = table[r["category"]]
        t["n"] += 1
        said = g is True
        t["right"] += said == r["equal"]
        t["fp"] += said and not r["equal"]
        t["fn"] += (not said) and r["equal"]
    return dict(table)


@pytest.fixture(scope="module")
def grader():
    with Grader(VerifyConfig(workers=2, timeout_s=5.0)) as g:
        yield g


def test_labeled_set_is_big_and_balanced():
    rows = load_cases()
    assert len(rows) >= 300
    assert len({r["category"] for r in rows}) >= 20
    assert sum(r["equal"] for r in rows) >= 100 and sum(not r["equal"] for r in rows) >= 100


def test_labeled_set_accuracy_and_no_false_positives(grader):
    rows = load_cases()
    table = score_cases(grader, rows)
    print(f"\n{'category':20s} {'n':>4s} {'acc':>6s} {'FP':>3s} {'FN':>3s}")
    for cat, t in sorted(table.items()):
        print(f"{cat:20s} {t['n']:4d} {t['right'] / t['n']:6.3f} {t['fp']:3d} {t['fn']:3d}")
    total = sum(t["right"] for t in table.values())
    print(f"{'overall':20s} {len(rows):4d} {total / len(rows):6.3f}")
    assert sum(t["fp"] for t in table.values()) == 0
    assert total / len(rows) >= 0.97
