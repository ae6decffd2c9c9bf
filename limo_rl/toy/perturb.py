"""Format without correct content: the right procedure run on perturbed operands (the ``format_only`` control).

Why: a chain that writes steps can teach a student two things at once, the habit of writing steps
(format) and arithmetic that holds for the question asked (content). The ``format_only`` control keeps
the first and breaks the second: for ``What is 47 + 38?`` it writes the column-by-column procedure,
every step a true equality, for ``47 + 41`` and boxes 88. The answer is wrong for the question asked,
while the style (steps, and a real check when the chain it stands in for has one) is the world's own.

Each kind changes one operand by a small seeded amount, keeping its digit count, so the chain looks
like one for the question and only its numbers differ: add and sub change the second operand, mul the
multi-digit one, linear the solution x (so c changes), fraction the reduced numerator. The answer always
differs from the gold answer (each change is injective in the operand it moves).

Pure core: standard library only.
"""

from __future__ import annotations

import math
import random

from limo_rl.toy.chains import parse_question, write_chain


def _shift(rng: random.Random, value: int, lo: int, hi: int) -> int:
    """``value`` moved by a seeded nonzero amount of at most 9, staying in [lo, hi] (``value`` itself when the
    range holds nothing else)."""
    moves = [d for d in range(-9, 10) if d and lo <= value + d <= hi]
    return value + rng.choice(moves) if moves else value


def _width(n: int) -> tuple[int, int]:
    digits = len(str(n))
    return (10 ** (digits - 1) if digits > 1 else 1), 10**digits - 1


def perturbed_question(question: str, rng: random.Random) -> str:
    """The same kind of question with one operand moved, so its answer differs from ``question``'s."""
    spec = parse_question(question)
    kind = spec["kind"]
    if kind in ("add", "sub"):
        a, b = spec["a"], spec["b"]
        lo, hi = _width(b)
        b2 = _shift(rng, b, lo, min(hi, a) if kind == "sub" else hi)
        if b2 == b:  # sub with b == a at its width's floor: move a up instead
            a += rng.randint(1, 9)
        return f"What is {a} {'+' if kind == 'add' else '-'} {b2}?"
    if kind == "mul":
        a2 = _shift(rng, spec["a"], *_width(spec["a"]))
        return f"What is {a2} * {spec['b']}?"
    if kind == "linear":
        a, b, c = spec["a"], spec["b"], spec["c"]
        x = (c - b) // a
        x2 = _shift(rng, x, 2, max(x + 9, 3))
        return f"Solve for x: {a}x + {b} = {a * x2 + b}."
    p, q = spec["p"], spec["q"]
    k = math.gcd(p, q)
    m, n = p // k, q // k
    options = [m2 for m2 in range(max(1, m - 9), m + 10) if m2 not in (m, n) and math.gcd(m2, n) == 1]
    m2 = rng.choice(options) if options else m
    return f"Simplify the fraction \\frac{{{k * m2}}}{{{k * n}}}."


def format_only_chain(question: str, like: str = "", seed: int = 0) -> str:
    """A chain for ``question`` that runs the right procedure on perturbed operands: ``verified`` style when
    ``like`` (the chain it stands in for) carries a ``Check:`` line, ``steps`` otherwise."""
    rng = random.Random(f"limo-toy/format-only/{seed}/{question}")
    other = perturbed_question(question, rng)
    text, _ = write_chain(other, "verified" if "Check:" in like else "steps", seed)
    return text
