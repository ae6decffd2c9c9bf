"""Normalization, exact/near dedup and n-gram decontamination (planted near-copies must all be caught)."""

from __future__ import annotations

import random

import pytest

from limo_rl.data.decontam import find_contaminated
from limo_rl.data.dedup import find_duplicates, jaccard, lsh_params, shingles
from limo_rl.data.text import canonical, last_boxed, tokens
from limo_rl.types import Problem

BENCH = [
    "Every morning Aya goes for a $9$-kilometer-long walk and stops at a coffee shop afterwards. When she walks "
    "at a constant speed of $s$ kilometers per hour, the walk takes her 4 hours, including $t$ minutes spent in "
    "the coffee shop. Find the number of minutes the walk takes her.",
    "Let $x,y$ be real numbers with $\\frac{1}{2} x + y = 1000$ and $x - y = 5$. Compute the value of "
    "$\\left(x + y\\right)^2$ when both numbers are written in base ten and then reduced modulo seven.",
    "Find the number of ordered pairs of positive integers whose product equals the number of divisors of "
    "twelve factorial and whose sum is a perfect square less than one hundred.",
]
PLANTED = {
    "whitespace": BENCH[0].replace(" ", "   ").replace(". ", ".\n\n"),
    "latex": BENCH[1].replace("\\frac{1}{2}", "\\dfrac{1}{2}").replace("\\left(", "(").replace("\\right)", ")")
    .replace("$", "\\("),
    "number_words": BENCH[2].replace("twelve", "12").replace("one hundred", "100"),
    "thousands": BENCH[1].replace("1000", "1,000"),
    "number_changed": BENCH[0].replace("$9$", "$11$").replace("4 hours", "5 hours"),
    "prefixed": "Solve carefully. " + BENCH[2] + " Show your work.",
}
CLEAN = [
    "A bag holds red and blue marbles in the ratio three to five; after adding ten red marbles the ratio is one "
    "to one. How many marbles were in the bag at first?",
    "Compute the sum of all primes below fifty that leave remainder one when divided by four.",
    "What is 3 + 4?",
]


def _problems(texts, prefix):
    return [Problem(id=f"{prefix}-{i}", question=t, answer="1", source=prefix) for i, t in enumerate(texts)]


def test_normalization_makes_variants_equal():
    assert canonical("  What is  $\\dfrac{1}{2}$ of 1,000? ") == canonical("what is \\(\\frac{1}{2}\\) of 1000")
    assert tokens("five apples and 3.0 pears") == ["5", "apples", "and", "3", "pears"]
    assert canonical("\\left( a \\cdot b \\right)") == canonical("(a \\times b)")
    assert canonical("x + 1") != canonical("x + 2")


@pytest.mark.parametrize("text,want", [
    ("so \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"), ("\\boxed{1} then \\boxed{ {2}+3 }", "{2}+3"),
    ("no box", None), ("\\boxed{unclosed", None),
])
def test_last_boxed(text, want):
    assert last_boxed(text) == want


def test_exact_dedup_keeps_first_and_reports_it():
    texts = ["Find x if x + 2 = 5.", "find  x if x+2=5", "Find y if y + 2 = 5.", "Find x if x + 2 = 5."]
    dups = find_duplicates(texts, near_threshold=None)
    assert [(d.index, d.kept, d.kind) for d in dups] == [(1, 0, "exact"), (3, 0, "exact")]


def test_near_dedup_honours_threshold_exactly():
    rng = random.Random(0)
    words = [f"w{i}" for i in range(500)]
    base = [rng.choice(words) for _ in range(60)]
    close = base[:-2] + ["zz1", "zz2"]  # two tokens changed at the end
    far = base[:30] + [rng.choice(words) for _ in range(30)]
    texts = [" ".join(base), " ".join(close), " ".join(far)]
    sim_close = jaccard(shingles(tokens(texts[0]), 5), shingles(tokens(texts[1]), 5))
    sim_far = jaccard(shingles(tokens(texts[0]), 5), shingles(tokens(texts[2]), 5))
    assert sim_far < 0.6 < sim_close
    dups = find_duplicates(texts, near_threshold=0.6, exact=False)
    assert [(d.index, d.kept, d.kind) for d in dups] == [(1, 0, "near")]
    assert dups[0].similarity == pytest.approx(sim_close)
    assert find_duplicates(texts, near_threshold=min(1.0, sim_close + 0.01), exact=False) == []


def test_lsh_recall_on_many_near_copies():
    rng = random.Random(1)
    words = [f"w{i}" for i in range(2000)]
    originals = [[rng.choice(words) for _ in range(40)] for _ in range(300)]
    copies = []
    for o in originals[:100]:
        c = list(o)
        c[rng.randrange(40)] = "changed"  # one token: Jaccard ~0.8-0.9 on 5-shingles
        copies.append(c)
    texts = [" ".join(t) for t in originals + copies]
    dups = find_duplicates(texts, near_threshold=0.7, exact=False)
    assert {d.index for d in dups} == set(range(300, 400))
    assert all(d.kept == d.index - 300 for d in dups)
    bands, rows = lsh_params(0.7, 64)
    assert bands * rows <= 64


def test_planted_benchmark_copies_are_all_removed():
    bench = {"aime24": _problems(BENCH, "aime24")}
    pool = _problems(CLEAN[:1] + list(PLANTED.values()) + CLEAN[1:], "pool")
    found, _ = find_contaminated(pool, bench, n=13)
    removed = {pool[c.index].question for c in found}
    assert removed == set(PLANTED.values())
    matched = {pool[c.index].question: c.benchmark_id for c in found}
    assert matched[PLANTED["latex"]] == "aime24-1" and matched[PLANTED["number_words"]] == "aime24-2"
    # 8-grams (open-r1) catch them too
    found8, _ = find_contaminated(pool, bench, n=8)
    assert {pool[c.index].question for c in found8} == set(PLANTED.values())


def test_short_texts_match_whole_and_boilerplate_is_ignored():
    instr = "Please reason step by step and put your choice letter without any other text with boxed in the end."
    bench = {"gpqa_diamond": _problems([f"Question number {i} about topic {i * 7}. {instr}" for i in range(8)],
                                       "g")}
    bench["toy_eval"] = _problems(["What is 3 + 4?"], "t")
    pool = _problems([f"An unrelated physics question about springs. {instr}", "what is 3+4", "What is 3 + 5?"],
                     "p")
    found, idx = find_contaminated(pool, bench, n=8, ignore_common=5)
    assert [(c.index, c.benchmark) for c in found] == [(1, "toy_eval")]
    assert idx.ignored["gpqa_diamond"] > 0
    found_all, _ = find_contaminated(pool, bench, n=8, ignore_common=None)
    assert {c.index for c in found_all} == {0, 1}
