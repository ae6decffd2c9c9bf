"""The world's gold procedure as control chains: what the gold-control arms and the problem-set arms train on.

Why: the loop's chains differ from a bare answer in several things at once (steps, checks, correct
content, which problems). The toy world writes chains of known quality from a problem's numbers
(:mod:`limo_rl.toy.chains`), so it can take those apart, one control per factor, each the loop's set
with one thing changed (:mod:`limo_rl.select.controls` matches them to the loop's last round):

* ``gold_steps``: the right procedure, no check;
* ``gold_verified``: the right procedure and a true check (the answer substituted back or recomputed),
  a step :mod:`limo_rl.verify.density` counts;
* ``gold_hollow``: the right procedure and a check that verifies nothing ("Let me verify. The answer
  looks right."): the verifier reports it as ``hollow`` and does not count it;
* ``gold_caught``: a false step, a true check that finds the answer does not match, "Let me redo it." and
  the right procedure and check: the verifier's ``caught`` (:mod:`limo_rl.verify.process`). For fractions,
  whose world slip writes no false equality (it stops a division early), the slip here writes one (the
  last division's numerator one too big), so every kind is caught the same way;
* ``styled`` (the problem-set arms' chains): the right procedure in the style of the loop example it
  stands in for (a check when that example has a ``Check:`` line), so two problem-set arms differ in
  problems only;
* ``format_only``: the right procedure on perturbed operands (:mod:`limo_rl.toy.perturb`).

Pure core: standard library only.
"""

from __future__ import annotations

import math

from limo_rl.toy.chains import _check, _prime_factors, parse_question, write_chain
from limo_rl.toy.perturb import format_only_chain

GOLD_CONTROL_STYLES = {"gold_steps": "steps", "gold_verified": "verified", "gold_hollow": "hollow",
                       "gold_caught": "caught"}
CONTROL_CHAIN_KINDS = (*GOLD_CONTROL_STYLES, "styled", "format_only")


def _fraction_caught(p: int, q: int) -> str:
    """A caught slip in reducing p/q: the last division writes a numerator one too big (a false equality), a
    true check finds that the reduced fraction does not multiply back to p/q, and the division is redone."""
    factors = _prime_factors(math.gcd(p, q))
    g = math.gcd(p, q)
    wrong, right = [], []
    a, b = p, q
    for i, f in enumerate(factors):
        num = a // f + (1 if i == len(factors) - 1 else 0)
        wrong.append(f"Divide by {f}: {a}/{f}={num}, {b}/{f}={b // f}.")
        a, b = num, b // f
    wrong.append(f"So the fraction is {a}/{b}.")
    c, d = p, q
    for f in factors:
        right.append(f"Divide by {f}: {c}/{f}={c // f}, {d}/{f}={d // f}.")
        c, d = c // f, d // f
    right.append(f"So the fraction is {c}/{d}.")
    check_wrong = f"Check: {a}*{g}={a * g}, {b}*{g}={b * g}."
    check_right, _ = _check({"kind": "fraction", "p": p, "q": q}, f"\\frac{{{c}}}{{{d}}}")
    body = [*wrong, check_wrong, "It does not match. Let me redo it.", *right, check_right, "It matches."]
    return "\n".join([*body, f"The answer is \\boxed{{\\frac{{{c}}}{{{d}}}}}."])


def caught_chain(question: str, seed: int = 0) -> str:
    """A chain whose false step a true check catches and a redo corrects, ending on the right answer."""
    spec = parse_question(question)
    if spec["kind"] == "fraction":
        return _fraction_caught(spec["p"], spec["q"])
    return write_chain(question, "caught", seed)[0]


def control_chain(kind: str, question: str, like: str = "", seed: int = 0) -> str:
    """The chain of control ``kind`` (:data:`CONTROL_CHAIN_KINDS`) for ``question``; ``like``: the loop
    example it stands in for (its style, for ``styled`` and ``format_only``)."""
    if kind in ("gold_steps", "gold_verified", "gold_hollow"):
        return write_chain(question, GOLD_CONTROL_STYLES[kind], seed)[0]
    if kind == "gold_caught":
        return caught_chain(question, seed)
    if kind == "styled":
        return write_chain(question, "verified" if "Check:" in like else "steps", seed)[0]
    if kind == "format_only":
        return format_only_chain(question, like, seed)
    raise ValueError(f"unknown control chain {kind!r}; known: {', '.join(CONTROL_CHAIN_KINDS)}")
