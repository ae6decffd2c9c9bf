"""Synthetic math problems with exact gold answers, sized for a tiny transformer on a CPU.

Why this world: no pretrained weights can be downloaded here and a random model never
produces an answer a verifier accepts, so the LIMO question (does a small, carefully chosen
set of verified chains teach reasoning?) is asked on problems a ~1M-parameter model can
learn in minutes, the way nanoGPT uses tiny Shakespeare. The operations are the ones whose
step-by-step procedure is local (column addition with carries, subtraction with borrows,
multiplication by a digit, one-variable linear equations, fractions to lowest terms), so a
chain that writes the steps out is easier to learn than a bare answer, and a verification
step (substituting back, recomputing the other way) is a real computation.

Disjointness: every question is assigned to the training or the evaluation side by a hash
of its text (about one in eight goes to evaluation), so :func:`make_problems` and
:func:`eval_problems` never share a question, whatever seeds are used. A second hash byte
splits the evaluation side into the ``toy_eval`` test set (3/4) and the ``toy_dev`` set (1/4)
that choices (sweeps, tuning) are made on, so the two never share a question either.

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
_EVAL_BUCKETS = 8  # one question in _EVAL_BUCKETS belongs to the evaluation side
_DEV_BUCKETS = 4  # one evaluation-side question in _DEV_BUCKETS belongs to toy_dev


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
    a, b = _number(rng, _digits(d)), rng.randint(2, 9)
    return {"kind": "mul", "a": a, "b": b, "question": f"What is {a} * {b}?", "answer": str(a * b)}


def _linear(rng: random.Random, d: int) -> dict:
    a = rng.randint(2, 9)
    x = rng.randint(2, 5 * d + 5)
    b = rng.randint(1, 10**d - 1)
    c = a * x + b
    return {"kind": "linear", "a": a, "b": b, "c": c, "x": x,
            "question": f"Solve for x: {a}x + {b} = {c}.", "answer": str(x)}


def _fraction(rng: random.Random, d: int) -> dict:
    limit = 4 + 3 * d
    while True:
        m, n = rng.randint(1, limit), rng.randint(2, limit)
        if m != n and math.gcd(m, n) == 1:
            break
    k = rng.randint(2, 2 + 2 * d)
    p, q = k * m, k * n
    return {"kind": "fraction", "p": p, "q": q, "m": m, "n": n, "k": k,
            "question": f"Simplify the fraction \\frac{{{p}}}{{{q}}}.", "answer": f"\\frac{{{m}}}{{{n}}}"}


_MAKERS: dict[str, Callable[[random.Random, int], dict]] = {
    "add": _add, "sub": _sub, "mul": _mul, "linear": _linear, "fraction": _fraction,
}


def is_eval_question(question: str) -> bool:
    """True for questions reserved for evaluation (``toy_eval`` or ``toy_dev``; a fixed hash split)."""
    digest = hashlib.sha256(question.encode("utf-8")).digest()
    return digest[0] % _EVAL_BUCKETS == 0


def question_side(question: str) -> str:
    """``train``, ``eval`` (toy_eval) or ``dev`` (toy_dev): a fixed hash split of the question text."""
    digest = hashlib.sha256(question.encode("utf-8")).digest()
    if digest[0] % _EVAL_BUCKETS != 0:
        return "train"
    return "dev" if digest[1] % _DEV_BUCKETS == 0 else "eval"


def _problem_id(prefix: str, question: str) -> str:
    return f"{prefix}-{hashlib.sha256(question.encode('utf-8')).hexdigest()[:12]}"


def _generate(n: int, seed: int, difficulty: int, *, side: str, kinds: tuple[str, ...]) -> list[Problem]:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 1 <= difficulty <= 6:
        raise ValueError(f"difficulty must be in 1..6, got {difficulty}")
    unknown = [k for k in kinds if k not in _MAKERS]
    if unknown:
        raise ValueError(f"unknown problem kind(s) {unknown}; known: {', '.join(KINDS)}")
    rng = random.Random(f"limo-toy/{seed}/{difficulty}/{side}")
    prefix, source = {"train": ("toy", "toy"), "eval": ("toyeval", "toy_eval"), "dev": ("toydev", "toy_dev")}[side]
    seen: set[str] = set()
    out: list[Problem] = []
    misses = dict.fromkeys(kinds, 0)  # consecutive repeats per kind; a kind whose questions run out is dropped
    turn = 0
    while len(out) < n:
        live = [k for k in kinds if misses[k] < 500]
        if not live:
            raise ValueError(f"cannot draw {n} distinct problems at difficulty {difficulty} (got {len(out)})")
        kind = live[turn % len(live)]
        spec = _MAKERS[kind](rng, difficulty)
        q = spec.pop("question")
        if q in seen or question_side(q) != side:
            misses[kind] += 1
            continue
        misses[kind] = 0
        turn += 1
        seen.add(q)
        answer = spec.pop("answer")
        out.append(Problem(
            id=_problem_id(prefix, q), question=q, answer=answer, source=source,
            subject=kind, meta={"difficulty": difficulty, **spec},
        ))
    return out


def make_problems(n: int, seed: int = 0, difficulty: int = 2, kinds: tuple[str, ...] = KINDS) -> list[Problem]:
    """``n`` distinct training-side problems, kinds in rotation; deterministic in (n, seed, difficulty)."""
    return _generate(n, seed, difficulty, side="train", kinds=tuple(kinds))


def eval_problems(n: int = 100, seed: int = EVAL_SEED, difficulty: int = 2,
                  kinds: tuple[str, ...] = KINDS) -> list[Problem]:
    """The ``toy_eval`` benchmark: ``n`` problems never produced by :func:`make_problems`."""
    return _generate(n, seed, difficulty, side="eval", kinds=tuple(kinds))


def dev_problems(n: int = 100, seed: int = EVAL_SEED, difficulty: int = 2,
                 kinds: tuple[str, ...] = KINDS) -> list[Problem]:
    """The ``toy_dev`` benchmark: ``n`` problems in neither :func:`make_problems` nor :func:`eval_problems`."""
    return _generate(n, seed, difficulty, side="dev", kinds=tuple(kinds))
