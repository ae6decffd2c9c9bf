"""Verification density and arithmetic consistency of a reasoning chain.

LIMO (Ye et al. 2025, v3) scores chains partly by self-verification ("check", "verify");
s1 and "cognitive behaviours" analyses (Gandhi et al. 2025) single out verification as the
behaviour that makes a chain teachable. Counting keywords alone over-counts false friends
("checkerboard", "a check for $50") and misses silent checks, so a step here is one of:

* ``keyword``: an explicit check phrase used as a verb or a check ("let me verify",
  "double-check", "substituting back", "sanity check", "checking that ...");
* ``substitution``: a numeric equation that plugs a found value (``x = 5``) back into an
  earlier equation in that variable and comes out as that equation's other side
  (``2x + 1 = 11`` ... ``2(5) + 1 = 11``);
* ``recompute``: a result obtained earlier recomputed another way (a different expression
  with the same non-trivial value).

Equations are found and evaluated by :mod:`limo_rl.verify.arith` (its own exact, bounded
parser; no sympify on model text). Each step carries its character span so a user can see
why a chain scored as it did.

Density is steps per 1,000 tokens. With the chain's real ``n_tokens`` that is exact;
without it, tokens are approximated as ``len(text) / CHARS_PER_TOKEN`` (about 4 characters
per token for English and LaTeX under byte-level BPE vocabularies such as Qwen2's).

Arithmetic consistency is the share of the chain's evaluable numeric equalities that are
true (a decimal on one side is read to the precision it was written with); ``None`` when
the chain has none.

Pure core: standard library only.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

from limo_rl.types import VerificationStep
from limo_rl.verify.arith import (
    Equation,
    NotEvaluable,
    close_enough,
    evaluate,
    find_equations,
    numbers,
    variables,
)

CHARS_PER_TOKEN = 4.0
MAX_TEXT = 200_000  # longer chains are analysed on their first MAX_TEXT characters

_KEYWORDS = re.compile(
    r"\blet(?:'s|\s+me|\s+us)\s+(?:(?:double|quickly|now|also)[- ]?)?(?:check|verify|confirm|re-?check)\b"
    r"|\bdouble[- ]?check(?:s|ed|ing)?\b"
    r"|\b(?:verify|verifies|verified|verifying|verification)\b"
    r"|\bsubstitut(?:e|es|ed|ing)\s+(?:[\w$\\{}=]+\s+){0,4}?back\b"
    r"|\bplug(?:s|ged|ging)?\s+(?:[\w$\\{}=]+\s+){0,4}?(?:back|in(?:to)?\s+the\s+original)\b"
    r"|\bsanity[- ]check\b|\bcross[- ]check(?:s|ed|ing)?\b"
    r"|\bcheck(?:s|ed|ing)?\s+(?:that|whether|if|again|this|it|our|my|the\s+(?:answer|result|solution|work|"
    r"calculation|computation|arithmetic|math|condition|original))\b"
    r"|\b(?:to|can|we'll|I'll)\s+confirm\b|\bconfirm(?:s|ed)?\s+(?:that|the|our|my)\b"
    r"|\bre-?(?:calculate|compute|examine|evaluate)\b"
    r"|\bchecks\s+out\b|\bcheck:"
)
_KEYWORDS_PATTERN = _KEYWORDS.pattern.replace("I'll", "i'll")
_KEYWORDS = re.compile(_KEYWORDS_PATTERN)  # matched against lower-cased text (faster than re.I)
_KEYWORDS_I = re.compile(_KEYWORDS_PATTERN, re.I)
_PARAGRAPH = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class DensityReport:
    steps: tuple[VerificationStep, ...]
    density: float  # steps per 1,000 tokens
    per_paragraph: float
    n_tokens: int
    arithmetic_consistency: float | None
    n_equalities: int


def approx_tokens(text: str) -> int:
    return max(1, round(len(text) / CHARS_PER_TOKEN))


def keyword_steps(text: str) -> list[VerificationStep]:
    low = text.lower()
    if len(low) != len(text):  # a few non-ASCII letters change length when lowered: keep spans exact
        return [VerificationStep(m.start(), m.end(), "keyword", m.group(0)) for m in _KEYWORDS_I.finditer(text)]
    return [VerificationStep(m.start(), m.end(), "keyword", text[m.start():m.end()]) for m in _KEYWORDS.finditer(low)]


def _value(side: str, env: dict[str, Fraction] | None = None) -> Fraction | None:
    try:
        return evaluate(side, env)
    except (NotEvaluable, ZeroDivisionError, ValueError, OverflowError):
        return None


def _has_op(side: str) -> bool:
    return bool(re.search(r"[-+*/^]|\\times|\\cdot|\\frac|\d\s*\(|\)\s*\(", side.lstrip("-")))


def equation_steps(equations: list[Equation]) -> tuple[list[VerificationStep], int, int]:
    """Substitution and recompute steps, plus (true, evaluable) counts of numeric equalities."""
    steps: list[VerificationStep] = []
    assigned: dict[str, tuple[Fraction, int]] = {}  # var -> (value, position)
    symbolic: list[tuple[Equation, set[str]]] = []  # earlier equations with variables
    results: dict[Fraction, list[Counter]] = {}  # value -> number multisets of expressions that gave it
    n_true = n_eval = 0
    cache: dict = {}  # (equation, assigned values) -> (common value of its sides or None, numbers it needs)
    for eq in equations:
        vars_ = set().union(*(variables(s) for s in eq.sides))
        values = [_value(s) for s in eq.sides] if not vars_ else [None] * len(eq.sides)
        if not vars_:
            pairs = [(i, j) for i in range(len(eq.sides) - 1) for j in (i + 1,) if values[i] is not None
                     and values[j] is not None]
            if pairs and any(_has_op(s) for s in eq.sides):
                n_eval += 1
                ok = all(close_enough(values[i], values[j], eq.sides[j]) or close_enough(values[j], values[i],
                                                                                          eq.sides[i])
                         for i, j in pairs)
                n_true += ok
                if ok:
                    _numeric_step(eq, values, assigned, symbolic, results, steps, cache)
            continue
        lhs, rhs = eq.sides[0], eq.sides[-1]
        if re.fullmatch(r"[A-Za-z]", lhs) and (v := _value(rhs)) is not None and len(eq.sides) == 2:
            assigned[lhs] = (v, eq.start)
        elif re.fullmatch(r"[A-Za-z]", rhs) and (v := _value(lhs)) is not None and len(eq.sides) == 2:
            assigned[rhs] = (v, eq.start)
        else:
            symbolic.append((eq, vars_))
    return steps, n_true, n_eval


def _numeric_step(eq: Equation, values: list, assigned: dict, symbolic: list, results: dict,
                  steps: list[VerificationStep], cache: dict) -> None:
    lhs = eq.sides[0]
    lhs_nums = Counter(numbers(lhs))
    # substitution: lhs is an earlier variable equation with assigned values plugged in
    for earlier, vars_ in symbolic if values[0] is not None else ():
        if earlier.start >= eq.start or not vars_ <= assigned.keys():
            continue
        if any(_fmt(assigned[v][0]) not in lhs_nums for v in vars_):
            continue  # the found values must appear in the plugged-in expression
        env_key = (earlier.start, tuple((v, assigned[v][0]) for v in sorted(vars_)))
        hit = cache.get(env_key)
        if hit is None:
            env = {v: assigned[v][0] for v in vars_}
            e_l, e_r = _value(earlier.sides[0], env), _value(earlier.sides[-1], env)
            needed = Counter(numbers(earlier.sides[0])) + Counter(_fmt(env[v]) for v in variables(earlier.sides[0]))
            hit = cache[env_key] = (e_l if e_l is not None and e_l == e_r else None, needed)
        value, needed = hit
        if value is not None and values[0] == value and not (needed - lhs_nums):
            steps.append(VerificationStep(eq.start, eq.end, "substitution", f"{lhs} = {eq.sides[-1]}"))
            return
    # recompute: the same non-trivial value from a different expression
    result = values[-1]
    if result is None or not _has_op(lhs) or abs(result) <= 1:
        return
    earlier_ways = results.setdefault(result, [])
    if earlier_ways and all(w != lhs_nums for w in earlier_ways):
        steps.append(VerificationStep(eq.start, eq.end, "recompute", f"{lhs} = {eq.sides[-1]}"))
    earlier_ways.append(lhs_nums)


def _fmt(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else str(float(v))


def analyze(text: str, n_tokens: int | None = None) -> DensityReport:
    """Steps (keyword, substitution, recompute), density and arithmetic consistency of one chain."""
    text = text[:MAX_TEXT]
    kw = keyword_steps(text)
    eq_steps, n_true, n_eval = equation_steps(list(find_equations(text)))
    steps = sorted(kw + eq_steps, key=lambda s: (s.start, s.end))
    merged: list[VerificationStep] = []
    for s in steps:  # overlapping matches are one step
        if merged and s.start < merged[-1].end:
            continue
        merged.append(s)
    tokens = n_tokens if n_tokens and n_tokens > 0 else approx_tokens(text)
    paragraphs = max(1, sum(1 for p in _PARAGRAPH.split(text) if p.strip()))
    return DensityReport(
        steps=tuple(merged),
        density=1000.0 * len(merged) / tokens,
        per_paragraph=len(merged) / paragraphs,
        n_tokens=tokens,
        arithmetic_consistency=(n_true / n_eval) if n_eval else None,
        n_equalities=n_eval,
    )
