"""Synthetic math problems with exact gold answers, sized for a tiny transformer on a CPU.

Why this world: no pretrained weights can be downloaded here and a random model never
produces an answer a verifier accepts, so the LIMO question (does a small, carefully chosen
set of verified chains teach reasoning?) is asked on problems a ~1M-parameter model can
learn in minutes, the way nanoGPT uses tiny Shakespeare. The operations are the ones whose
step-by-step procedure is local (column addition with carries, subtraction with borrows,
multiplication by a digit, a linear equation solved by a column subtraction and a short
division, a fraction reduced one prime at a time), so a chain that writes the steps out is
easier to learn than a bare answer, and every step is an equality a reader can check.

Answers that cannot be guessed (world 2): every kind has well over a hundred possible
answers at difficulty 2 (``linear``: x up to 49; ``fraction``: numerator and denominator up
to 28), so a chain whose work is wrong rarely lands on the right answer by chance, and
"correct" means what it says.

Disjointness: every question is assigned to the training side, ``toy_eval`` (the test set)
or ``toy_dev`` (the set every choice is made on) by a hash of its text (one in eight goes to
evaluation, a quarter of those to dev), so :func:`make_problems`, :func:`eval_problems` and
:func:`dev_problems` never share a question, whatever seeds are used. ``toy_confirm``
(:func:`confirm_problems`, the final finding's test) takes the evaluation side's questions that
``toy_eval`` at its default size does not. The evaluation sets
are stratified: a fixed, equal share of every kind whatever their size, each kind drawn
from its own seeded stream, so a larger set only adds problems.

Pure core: standard library only. Gold answers are canonical strings (integers, or
``\\frac{m}{n}`` in lowest terms), so an exact string match after extraction is a sound grader.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable

from limo_rl.types import Problem

KINDS = ("add", "sub", "mul", "linear", "fraction")
EVAL_SEED = 10_007
EVAL_SIZE = 1_000  # toy_eval's default size: 200 problems per kind, enough to see a few points
DEV_SIZE = 500  # toy_dev's default size: 100 problems per kind
CONFIRM_SIZE = 750  # toy_confirm's default size: 150 problems per kind (sub's evaluation side holds ~184 more)
CONFIRM_SEED = 20_011
_EVAL_BUCKETS = 8  # one question in _EVAL_BUCKETS belongs to the evaluation side
_DEV_BUCKETS = 4  # one evaluation-side question in _DEV_BUCKETS belongs to toy_dev
_MAX_MISSES = 2_000  # consecutive rejected draws after which a kind's question space counts as exhausted


def _digits(difficulty: int) -> int:
    """Operand width in digits: difficulty 2 -> two-digit operands."""
    return difficulty


def _number(rng: random.Random, n_digits: int) -> int:
    return rng.randint(10 ** (n_digits - 1), 10**n_digits - 1) if n_digits > 1 else rng.randint(1, 9)


def _add(rng: random.Random, d: int) -> dict:
    a, b = _number(rng, _digits(d)), _number(rng, _digits(d))
    return {"kind": "add", "a": a, "b": b, "question": f"What is {a} + {b}?", "answer": str(a + b)}


def _sub(rng: random.Random, d: int) -> dict:
    a, b = _number(rng, _digits(d)), _number(rng, _digits(d))
    a, b = max(a, b), min(a, b)
    return {"kind": "sub", "a": a, "b": b, "question": f"What is {a} - {b}?", "answer": str(a - b)}


def _mul(rng: random.Random, d: int) -> dict:
    """One more digit than add: a (d+1)-digit number times a digit (thousands of questions, answers)."""
    a, b = _number(rng, _digits(d) + 1), rng.randint(2, 9)
    return {"kind": "mul", "a": a, "b": b, "question": f"What is {a} * {b}?", "answer": str(a * b)}


def _linear(rng: random.Random, d: int) -> dict:
    """a x + b = c with x in 2..25d-1 (48 values at difficulty 2), so x is not guessed from a slip."""
    a = rng.randint(2, 9)
    x = rng.randint(2, 25 * d - 1)
    b = rng.randint(1, 10**d - 1)
    c = a * x + b
    return {"kind": "linear", "a": a, "b": b, "c": c, "x": x,
            "question": f"Solve for x: {a}x + {b} = {c}.", "answer": str(x)}


def _fraction(rng: random.Random, d: int) -> dict:
    """(k m) / (k n) with m, n coprime up to 4+12d and k in 2..4+4d: hundreds of distinct answers."""
    limit = 4 + 12 * d
    while True:
        m, n = rng.randint(1, limit), rng.randint(2, limit)
        if m != n and math.gcd(m, n) == 1:
            break
    k = rng.randint(2, 4 + 4 * d)
    p, q = k * m, k * n
    return {"kind": "fraction", "p": p, "q": q, "m": m, "n": n, "k": k,
            "question": f"Simplify the fraction \\frac{{{p}}}{{{q}}}.", "answer": f"\\frac{{{m}}}{{{n}}}"}


_MAKERS: dict[str, Callable[[random.Random, int], dict]] = {
    "add": _add, "sub": _sub, "mul": _mul, "linear": _linear, "fraction": _fraction,
}
_SIDES = {"train": ("toy", "toy"), "eval": ("toyeval", "toy_eval"), "dev": ("toydev", "toy_dev"),
          "confirm": ("toyconfirm", "toy_confirm")}


def question_side(question: str) -> str:
    """``train``, ``eval`` (toy_eval) or ``dev`` (toy_dev): a fixed hash split of the question text."""
    digest = hashlib.sha256(question.encode("utf-8")).digest()
    if digest[0] % _EVAL_BUCKETS != 0:
        return "train"
    return "dev" if digest[1] % _DEV_BUCKETS == 0 else "eval"


def is_eval_question(question: str) -> bool:
    """True for questions reserved for evaluation (``toy_eval`` or ``toy_dev``), never trained on."""
    return question_side(question) != "train"


def _problem_id(prefix: str, question: str) -> str:
    return f"{prefix}-{hashlib.sha256(question.encode('utf-8')).hexdigest()[:12]}"


def _check_args(n: int, difficulty: int, kinds: tuple[str, ...]) -> None:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 1 <= difficulty <= 6:
        raise ValueError(f"difficulty must be in 1..6, got {difficulty}")
    unknown = [k for k in kinds if k not in _MAKERS]
    if unknown:
        raise ValueError(f"unknown problem kind(s) {unknown}; known: {', '.join(KINDS)}")


def _problem(spec: dict, side: str, difficulty: int, label: str | None = None) -> Problem:
    prefix, source = _SIDES[label or side]
    q, answer = spec.pop("question"), spec.pop("answer")
    return Problem(id=_problem_id(prefix, q), question=q, answer=answer, source=source, subject=spec["kind"],
                   meta={"difficulty": difficulty, **spec})


def _rotation(n: int, seed: int, difficulty: int, kinds: tuple[str, ...]) -> list[Problem]:
    """Training side: kinds in rotation from one stream; a kind whose questions run out is dropped."""
    rng = random.Random(f"limo-toy/{seed}/{difficulty}/train")
    seen: set[str] = set()
    out: list[Problem] = []
    misses = dict.fromkeys(kinds, 0)
    turn = 0
    while len(out) < n:
        live = [k for k in kinds if misses[k] < 500]
        if not live:
            raise ValueError(f"cannot draw {n} distinct problems at difficulty {difficulty} (got {len(out)})")
        kind = live[turn % len(live)]
        spec = _MAKERS[kind](rng, difficulty)
        if spec["question"] in seen or question_side(spec["question"]) != "train":
            misses[kind] += 1
            continue
        misses[kind] = 0
        turn += 1
        seen.add(spec["question"])
        out.append(_problem(spec, "train", difficulty))
    return out


def _stratified(n: int, seed: int, difficulty: int, side: str, kinds: tuple[str, ...],
                exclude: frozenset[str] = frozenset(), label: str | None = None, short_ok: bool = False) -> list[Problem]:
    """Evaluation sides: a fixed equal share per kind (the first ``n % len(kinds)`` kinds get one more),
    each kind from its own stream, interleaved; a kind whose question space is too small is an error (with
    ``short_ok``, that kind gives what exists)."""
    per_kind: dict[str, list[Problem]] = {}
    for i, kind in enumerate(kinds):
        quota = n // len(kinds) + (i < n % len(kinds))
        rng = random.Random(f"limo-toy/{seed}/{difficulty}/{side}/{kind}")
        seen: set[str] = set()
        got: list[Problem] = []
        misses = 0
        while len(got) < quota:
            spec = _MAKERS[kind](rng, difficulty)
            if spec["question"] in seen or question_side(spec["question"]) != side or spec["question"] in exclude:
                misses += 1
                if misses < _MAX_MISSES:
                    continue
                if short_ok:  # the kind's question space is exhausted: what exists
                    break
                raise ValueError(f"only {len(got)} distinct {kind!r} problems exist on the {side} side at "
                                 f"difficulty {difficulty}; asked for {quota} (n={n})")
            misses = 0
            seen.add(spec["question"])
            got.append(_problem(spec, side, difficulty, label))
        per_kind[kind] = got
    return [per_kind[k][j] for j in range(max(map(len, per_kind.values()), default=0))
            for k in kinds if j < len(per_kind[k])]


def make_problems(n: int, seed: int = 0, difficulty: int = 2, kinds: tuple[str, ...] = KINDS) -> list[Problem]:
    """``n`` distinct training-side problems, kinds in rotation; deterministic in (n, seed, difficulty)."""
    _check_args(n, difficulty, tuple(kinds))
    return _rotation(n, seed, difficulty, tuple(kinds))


def eval_problems(n: int = EVAL_SIZE, seed: int = EVAL_SEED, difficulty: int = 2,
                  kinds: tuple[str, ...] = KINDS) -> list[Problem]:
    """The ``toy_eval`` test set: ``n`` problems, an equal share per kind, never produced by :func:`make_problems`."""
    _check_args(n, difficulty, tuple(kinds))
    return _stratified(n, seed, difficulty, "eval", tuple(kinds))


def dev_problems(n: int = DEV_SIZE, seed: int = EVAL_SEED, difficulty: int = 2,
                 kinds: tuple[str, ...] = KINDS, *, short_ok: bool = False) -> list[Problem]:
    """The ``toy_dev`` set (checkpoints, sweeps, calibration): disjoint from toy_eval and the training side.
    ``short_ok``: at a difficulty whose dev side has fewer than ``n`` problems of a kind, fewer (a model's
    metadata scores what exists; a benchmark of a named size refuses)."""
    _check_args(n, difficulty, tuple(kinds))
    return _stratified(n, seed, difficulty, "dev", tuple(kinds), short_ok=short_ok)


def confirm_problems(n: int = CONFIRM_SIZE, seed: int = CONFIRM_SEED, difficulty: int = 2,
                     kinds: tuple[str, ...] = KINDS) -> list[Problem]:
    """The ``toy_confirm`` set: the test touched once, for a final finding, never while designing.

    Disjoint from the training side and ``toy_dev`` by the hash split, and from ``toy_eval`` (at any size up to
    its default :data:`EVAL_SIZE`, whose stratified draws are prefixes of it) by construction: evaluation-side
    questions of their own seeded streams, every question of ``toy_eval`` left out. Why not a new hash bucket:
    moving questions between sides would change the pool, ``toy_eval`` and ``toy_dev`` of every recipe."""
    _check_args(n, difficulty, tuple(kinds))
    taken = frozenset(p.question for p in eval_problems(EVAL_SIZE, difficulty=difficulty))
    return _stratified(n, seed, difficulty, "eval", tuple(kinds), exclude=taken, label="confirm")
