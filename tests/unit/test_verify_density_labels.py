"""Verification density against people: counted checks vs careful human counts on labelled sets.

``tests/data/density_labels.jsonl`` holds 62 chains (toy-teacher chains of every style and
R1/QwQ-style chains written for this set: false friends such as "checkerboard" and "a check
for $50", checks phrased without keywords, checks written only in words, false checks that
claim success), each with a count of true, false and hollow checks made by reading it.

Issue 26 added 108 more hand-labelled chains aimed at what the counter missed (small-case
trials, units and dimension checks, magnitude plausibility, substitution back without a check
word, decorative markers that verify nothing), in three files:

* ``density_labels_tune.jsonl`` (36) and ``density_labels_heldout.jsonl`` (36): one batch of 72
  split by ``sha256(id) % 100 < 50`` and committed before any counter change. Round 1 tuned on
  the 62 + tune only; the held-out file was then measured once (true checks: Spearman 0.706,
  exact 0.806; the counter before issue 26: 0.112 and 0.444). Round 2 tuned on all three;
* ``density_labels_heldout2.jsonl`` (36): written and committed after round 1, before round 2,
  and never used for tuning. It is the held-out figure now (Spearman 0.845, exact 0.917;
  before issue 26: 0.276 and 0.528).

Run ``pytest -s tests/unit/test_verify_density_labels.py`` for the figures; the thresholds below
are floors under the measured agreement, so a regression fails.
"""

from __future__ import annotations

import json
from pathlib import Path

from limo_rl.verify.density import analyze

DATA = Path(__file__).resolve().parents[1] / "data"
LABELS = DATA / "density_labels.jsonl"
TUNE, HELDOUT, HELDOUT2 = (DATA / f"density_labels_{n}.jsonl" for n in ("tune", "heldout", "heldout2"))


def _ranks(xs: list[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb) if va and vb else 0.0


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def agreement(path: Path = LABELS) -> dict:
    rows = _rows(path)
    out: dict = {"n": len(rows)}
    reps = [analyze(r["text"]) for r in rows]
    for field, got in (("true_checks", [r.true_checks for r in reps]), ("false_checks", [r.false_checks for r in reps]),
                       ("hollow_checks", [r.n_hollow for r in reps])):
        want = [r[field] for r in rows]
        out[field] = {"spearman": spearman(got, want),
                      "exact": sum(g == w for g, w in zip(got, want, strict=True)) / len(rows)}
    out["misses"] = [(r["id"], r["true_checks"], rep.true_checks, r["note"]) for r, rep in zip(rows, reps, strict=True)
                     if rep.true_checks != r["true_checks"]]
    by_source: dict = {}
    for r, rep in zip(rows, reps, strict=True):
        s = by_source.setdefault(r["source"], [0, 0])
        s[0] += 1
        s[1] += rep.true_checks == r["true_checks"]
    out["exact_by_source"] = {k: v[1] / v[0] for k, v in by_source.items()}
    return out


def test_labelled_set_is_large_and_varied():
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 60
    assert {r["source"] for r in rows} == {"toy", "handwritten"}
    assert sum(r["false_checks"] > 0 for r in rows) >= 5 and sum(r["true_checks"] == 0 for r in rows) >= 10


def _show(name: str, a: dict) -> None:
    print(f"\n{name} n={a['n']}")
    for field in ("true_checks", "false_checks", "hollow_checks"):
        print(f"  {field:14s} spearman {a[field]['spearman']:.3f}  exact {a[field]['exact']:.3f}")
    print(f"  exact (true checks) by source: {a['exact_by_source']}")
    for m in a["misses"]:
        print("  miss", m)


def test_counted_checks_agree_with_people():
    a = agreement()
    _show("density labels", a)
    assert a["true_checks"]["spearman"] >= 0.8
    assert a["true_checks"]["exact"] >= 0.85
    assert a["false_checks"]["exact"] >= 0.8


def test_new_label_sets_cover_the_missing_check_kinds():
    rows = _rows(TUNE) + _rows(HELDOUT) + _rows(HELDOUT2)
    assert len(_rows(HELDOUT)) >= 30 and len(_rows(HELDOUT2)) >= 30
    assert not {r["id"] for r in _rows(HELDOUT2)} & {r["id"] for r in _rows(TUNE) + _rows(HELDOUT)}
    notes = " ".join(r["note"] for r in rows)
    for kind in ("small", "units", "plausib", "substitution", "decorative", "no check"):
        assert kind in notes, kind


def test_tuned_sets_agree():
    for path in (TUNE, HELDOUT):
        a = agreement(path)
        _show(path.name, a)
        assert a["true_checks"]["spearman"] >= 0.75 and a["true_checks"]["exact"] >= 0.8


def test_held_out_chains_agree_with_people():
    """The set no tuning looked at: the issue's bar is Spearman >= 0.75 and exact >= 60%."""
    a = agreement(HELDOUT2)
    _show(HELDOUT2.name, a)
    assert a["true_checks"]["spearman"] >= 0.8
    assert a["true_checks"]["exact"] >= 0.85
    assert a["false_checks"]["exact"] >= 0.9
