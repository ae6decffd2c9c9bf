"""Verification density and arithmetic consistency of a reasoning chain.

LIMO (Ye et al. 2025, v3) scores chains partly by self-verification ("check", "verify");
s1 and "cognitive behaviours" analyses (Gandhi et al. 2025) single out verification as the
behaviour that makes a chain teachable. Density here is meant to measure *real*
self-checking, so a phrase alone is not enough: "Let me verify. The answer looks right."
does no checking. A step is one of:

* ``keyword``: an explicit check phrase used as a verb or a check ("let me verify",
  "double-check", "substituting back", "sanity check", "checking that ...", not the false
  friends "checkerboard" or "a check for $50") that is *backed by work*: an evaluable
  computation (``109 - 60 = 49``, or ``2x + 1 = 11`` once ``x = 5`` is known) in the same
  sentence, or in the following sentences of the next :data:`WINDOW_LINES` lines before a
  blank line or a verdict without work ("yes, that seems correct"). Past-tense phrases
  ("... = 7, verified", "checks out") are also backed by work earlier in their sentence.
  Its equalities must hold (exact arithmetic, :mod:`.arith`); a check that writes a false
  one is ``false`` (below). The step spans the phrase and its work; when that work is a
  substitution or recompute (below) the step takes that kind;
* ``substitution``: a numeric equation that plugs a found value (``x = 5``) back into an
  earlier equation in that variable and comes out as that equation's other side
  (``2x + 1 = 11`` ... ``2(5) + 1 = 11``), with or without a check phrase;
* ``recompute``: a result obtained earlier recomputed another way: a different expression
  with the same notable value (different numbers, or the same three or more numbers in
  another order, e.g. a sum added up backwards; a two-term swap is a restatement). Values
  that coincide by chance are not recomputes: whole numbers below 10, and values reached
  twice from single-digit operands only (two columns of an addition that both make 12);
* ``hollow``: a check phrase with no work behind it. Reported so a user sees it, but not
  counted in the density;
* ``false``: a check whose work asserts a false equality ("Check: 18+63=82. It matches."):
  what it claims does not hold, so it is not a check at all. Not counted; it lowers the
  chain's score (:mod:`.features`). A check that computes *correctly* and finds a mistake
  ("Check: 82-63=19, not 18: a slip") is a true check: its equalities hold.

Checks that carry no keyword (small-case trials, "indeed ... = ...", units and plausibility
tests, recounts by listing) and decorative markers that verify nothing ("12 \\times 9 = 108. ✓")
are judged by :mod:`.cues`.

Equations are found and evaluated by :mod:`limo_rl.verify.arith` (its own exact, bounded
parser; no sympify on model text). Substitutions and recomputes are searched among the first
:data:`MAX_EQUATIONS` equations (the search compares equations pairwise); the work behind
check phrases among :data:`MAX_WORK_EQUATIONS` more, so checks late in a long chain are not
mistaken for hollow ones. Each step carries its character span and text so a user
can see why a chain scored as it did.

Density is counted steps (true checks: all but ``hollow`` and ``false``) per 1,000 tokens. With the chain's real
``n_tokens`` that is exact; without it, tokens are approximated as ``len(text) /
CHARS_PER_TOKEN`` (about 4 characters per token for English and LaTeX under byte-level BPE
vocabularies such as Qwen2's). ``per_paragraph`` is counted steps per non-empty paragraph.

Which false steps a later check caught and a corrected step redid (``caught``), and which it
never caught (``uncaught_false``), are judged by :mod:`.process` from the same computations.

Arithmetic consistency is the share of the chain's evaluable numeric equalities that are
true (a decimal on one side is read to the precision it was written with); ``None`` when
the chain has none.

Pure core: standard library only.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

from limo_rl.types import VerificationStep
from limo_rl.verify.arith import (
    Equation,
    NotEvaluable,
    close_enough,
    evaluate,
    find_equations,
    numbers,
    shape,
    variables,
)
from limo_rl.verify.cues import MARKERS, cue_steps, decorates, word_work
from limo_rl.verify.process import Computation, judge

CHARS_PER_TOKEN = 4.0
MAX_TEXT = 200_000  # longer chains are analysed on their first MAX_TEXT characters
WINDOW_LINES = 2  # a check phrase's work may follow on this many further lines
MAX_WINDOW = 600  # characters after a check phrase searched for its work (and before it, for past tense)
MAX_EQUATIONS = 400  # equations searched for substitutions and recomputes (pairwise work)
MAX_WORK_EQUATIONS = 5000  # further equations searched only as the work behind check phrases (linear)
HOLLOW = "hollow"
FALSE = "false"  # a check whose own arithmetic is wrong ("Check: 18+63=82. It matches."): not counted

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
    r"|\bchecks\s+out\b|\bcheck:|\bconfirmed\b"
    r"|\bplug(?:s|ged|ging)?\s+(?:in|into)\b|\bsubstitut(?:e|es|ed|ing)\s+(?:\$?[a-z]\s*=|in(?:to)?\b)"
    r"|✓|✔️?|✅|\\checkmark|\b(?:which|this|that|it)\s+(?:matches|agrees)\b|\bconsistent\s+with\b|\bas\s+expected\b"
)
# every phrase starts with one of these characters: a look-ahead skips the other positions fast (2-3x)
_KEYWORDS_PATTERN = r"(?=[ldvsprctwia✓✔✅\\])(?:" + _KEYWORDS.pattern.replace("I'll", "i'll") + ")"
_KEYWORDS = re.compile(_KEYWORDS_PATTERN)  # matched against lower-cased text (faster than re.I)
_KEYWORDS_I = re.compile(_KEYWORDS_PATTERN, re.I)
# past-tense / result phrases: their work may come before them in the sentence ("2(3)+1 = 7, verified")
_RETRO = re.compile(r"(?:checks\s+out|verified|verifies|checked|confirm(?:s|ed)\s+\w+|✓|\\checkmark|matches|agrees"
                    r"|consistent\s+with|as\s+expected)$", re.I)
# a verdict that closes a check: reached before any work, the check was hollow
_VERDICT = re.compile(
    r"\b(?:looks?|seems?|appears?|sounds?)\s+(?:to\s+be\s+)?(?:right|correct|good|fine|ok(?:ay)?|consistent"
    r"|reasonable|plausible)\b"
    r"|\b(?:is|are|was|were)\s+(?:indeed\s+|all\s+)?(?:correct|right|consistent|fine)\b"
    r"|\b(?:yes|yep|confirmed)\b|\bthat's\s+(?:right|correct)\b|\bchecks\s+out\b|\bmakes\s+sense\b",
    re.I,
)
_TASK_VERB = re.compile(r"\b(?:asks?|asked|wants?|told|required|requires)\s+(?:us\s+|you\s+|me\s+)?to\s+$", re.I)
_NOUN_USE = re.compile(r"\s+(?:codes?|numbers?|links?|emails?|tokens?|process)\b", re.I)
_BOTH = re.compile(r"[\s$,;]*(?:and|,)?[\s$]*")
_ADJACENT = re.compile(r"[ \t*_()\[\]]*")
_SENT_END = re.compile(r"[.!?](?=\s|$)|\n")
_PARAGRAPH = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class DensityReport:
    steps: tuple[VerificationStep, ...]  # every step found, ``hollow`` ones included, in text order
    density: float  # counted (true) steps per 1,000 tokens
    per_paragraph: float  # counted steps per non-empty paragraph
    n_tokens: int
    arithmetic_consistency: float | None
    n_equalities: int
    n_hollow: int = 0
    true_checks: int = 0  # counted steps: what they assert holds
    false_checks: int = 0  # checks that assert a false equality
    caught: int = 0  # false steps a check found and a corrected step redid (:mod:`.process`)
    uncaught_false: int = 0  # false steps never caught and redone: the final attempt is inconsistent


@dataclass
class EquationScan:
    """What the chain's equations show: substitution/recompute steps, the spans of every
    evaluable computation (true or not, with the step kind it carries, if any), and the
    (true, evaluable) counts of numeric equalities."""

    steps: list[VerificationStep] = field(default_factory=list)
    work: list[tuple[int, int, str | None, bool]] = field(default_factory=list)  # (start, end, kind, holds)
    n_true: int = 0
    n_eval: int = 0
    computations: list[Computation] = field(default_factory=list)  # every evaluated numeric equality


def approx_tokens(text: str) -> int:
    return max(1, round(len(text) / CHARS_PER_TOKEN))


def keyword_spans(text: str) -> list[tuple[int, int]]:
    """Spans of explicit check phrases (false friends excluded), whether or not backed by work."""
    low = text.lower()
    if len(low) != len(text):  # a few non-ASCII letters change length when lowered: keep spans exact
        spans = [m.span() for m in _KEYWORDS_I.finditer(text)]
    else:
        spans = [m.span() for m in _KEYWORDS.finditer(low)]
    # the task's own words ("the problem asks us to verify ...", "a verification code") are no check
    return [(s, e) for s, e in spans if not _TASK_VERB.search(text, max(0, s - 30), s)
            and not _NOUN_USE.match(text, e)]


def _value(side: str, env: dict[str, Fraction] | None = None) -> Fraction | None:
    try:
        return evaluate(side, env)
    except (NotEvaluable, ZeroDivisionError, ValueError, OverflowError):
        return None


def _has_op(side: str) -> bool:
    return bool(re.search(r"[-+*/^]|\\times|\\cdot|\\frac|\d\s*\(|\)\s*\(", side.lstrip("-")))


def equation_steps(equations: list[Equation]) -> EquationScan:
    """Substitution and recompute steps, evaluable computations, and counts of numeric equalities."""
    scan = EquationScan()
    assigned: dict[str, tuple[Fraction, int]] = {}  # var -> (value, position)
    symbolic: list[tuple[Equation, set[str]]] = []  # earlier equations with variables
    results: dict[Fraction, list[tuple[Counter, tuple]]] = {}  # value -> (numbers, shape) of ways that gave it
    cache: dict = {}  # (equation, assigned values) -> (common value of its sides or None, numbers it needs)
    for eq in equations:
        vars_ = set().union(*(variables(s) for s in eq.sides))
        if not vars_:
            values = [_value(s) for s in eq.sides]
            pairs = [(i, j) for i in range(len(eq.sides) - 1) for j in (i + 1,) if values[i] is not None
                     and values[j] is not None]
            if pairs and any(_has_op(s) for s in eq.sides):
                scan.n_eval += 1
                ok = all(close_enough(values[i], values[j], eq.sides[j]) or close_enough(values[j], values[i],
                                                                                          eq.sides[i])
                         for i, j in pairs)
                scan.n_true += ok
                n_before = len(scan.steps)
                if ok:
                    _numeric_step(eq, values, assigned, symbolic, results, scan.steps, cache)
                scan.work.append((eq.start, eq.end, scan.steps[-1].kind if len(scan.steps) > n_before else None,
                                  bool(ok)))
                scan.computations.append((eq.start, eq.end, eq.sides, bool(ok)))
            continue
        lhs, rhs = eq.sides[0], eq.sides[-1]
        single = [re.fullmatch(r"[A-Za-z]", s) is not None for s in eq.sides]
        if not any(single) and vars_ <= assigned.keys():  # a known value put into an equation: work
            env = {v: assigned[v][0] for v in vars_}
            vals = [_value(s, env) for s in eq.sides]
            if all(v is not None for v in vals):
                scan.work.append((eq.start, eq.end, None, all(v == vals[0] for v in vals)))
        if single[0] and (v := _value(rhs)) is not None and len(eq.sides) == 2:
            assigned[lhs] = (v, eq.start)
        elif single[-1] and (v := _value(lhs)) is not None and len(eq.sides) == 2:
            assigned[rhs] = (v, eq.start)
        else:
            symbolic.append((eq, vars_))
    return scan


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
    # recompute: the same notable value from a different expression. Small whole values (single
    # digits, or single-digit operands on both sides, as in column arithmetic) coincide by chance.
    result = values[-1]
    if result is None or not _has_op(lhs) or (result.denominator == 1 and abs(result) < 10):
        return
    sig = shape(lhs)
    digits_only = all(n.isdigit() and len(n) == 1 for n in lhs_nums)
    earlier_ways = results.setdefault(result, [])
    if (earlier_ways and not (digits_only and all(d for _, _, d in earlier_ways))
            and all(nums != lhs_nums or (lhs_nums.total() >= 3 and s != sig) for nums, s, _ in earlier_ways)):
        steps.append(VerificationStep(eq.start, eq.end, "recompute", f"{lhs} = {eq.sides[-1]}"))
    earlier_ways.append((lhs_nums, sig, digits_only))


def _fmt(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else str(float(v))


def _sentence_end(text: str, i: int, limit: int) -> int:
    m = _SENT_END.search(text, i, limit)
    return m.start() if m else limit


def _work_in(work: list, starts: list[int], lo: int, hi: int) -> list:
    i = bisect_left(starts, lo)
    out = []
    while i < len(work) and work[i][0] < hi:
        out.append(work[i])
        i += 1
    return out


def _backing(text: str, ks: int, ke: int, work: list, starts: list[int],
             retro: bool | None = None) -> tuple[int, int, str, bool] | None:
    """(start, end, kind, holds) of the check at ``text[ks:ke]`` with the work that backs it, or None (hollow);
    ``holds`` is False when any equality the check writes is false."""
    s_end = _sentence_end(text, ke, min(len(text), ke + MAX_WINDOW))
    lo = ks
    retro = _RETRO.search(text[ks:ke]) is not None if retro is None else retro
    if retro:  # past tense: the work may precede the phrase in its sentence
        lo = max(0, ks - MAX_WINDOW)
        ends = [m.end() for m in _SENT_END.finditer(text, lo, ks)]
        lo = ends[-1] if ends else lo
    found = _work_in(work, starts, lo, s_end) or word_work(text, lo, s_end, _value)
    if not found and retro and not text[lo:ks].strip(" \t*") and lo > 0:
        # "2(3)+1 = 7. That matches.": a result phrase opening its sentence refers to the previous one
        j = lo
        while j > 0 and text[j - 1] in ".!?\n \t":
            j -= 1
        prev = max(0, j - MAX_WINDOW)
        ends = [m.end() for m in _SENT_END.finditer(text, prev, j)]
        prev = ends[-1] if ends else prev
        if not _PARAGRAPH.search(text, prev, ks):
            found = _work_in(work, starts, prev, lo) or word_work(text, prev, lo, _value)
    if not found:
        limit = ke
        for _ in range(WINDOW_LINES + 1):  # the rest of the phrase's line and WINDOW_LINES more
            nl = text.find("\n", limit, ke + MAX_WINDOW)
            if nl == -1:
                limit = min(len(text), ke + MAX_WINDOW)
                break
            limit = nl + 1
        if blank := _PARAGRAPH.search(text, ke, limit):
            limit = blank.start()
        pos = s_end + 1
        while pos < limit and not found:
            end = _sentence_end(text, pos, limit)
            found = _work_in(work, starts, pos, end) or word_work(text, pos, end, _value)
            if not found and _VERDICT.search(text, pos, end):
                return None  # closed with a verdict before any work
            pos = end + 1
    if not found:
        return None
    kind = next((k for _, _, k, _ in found if k), "keyword")
    return min(ks, found[0][0]), max(ke, max(w[1] for w in found)), kind, all(w[3] for w in found)


def _plain_work(text: str, offset: int, computations: list[Computation]) -> list[tuple[int, int, str | None, bool]]:
    """Spans of evaluable numeric computations (true or not) in ``text``, shifted by ``offset``."""
    out: list[tuple[int, int, str | None, bool]] = []
    for eq in find_equations(text, max_equations=MAX_WORK_EQUATIONS):
        if any(_has_op(s) for s in eq.sides) and all(not variables(s) for s in eq.sides):
            values = [_value(s) for s in eq.sides]
            pairs = [(i, i + 1) for i in range(len(values) - 1) if values[i] is not None and values[i + 1] is not None]
            if pairs:
                holds = all(close_enough(values[i], values[j], eq.sides[j]) or close_enough(values[j], values[i],
                                                                                            eq.sides[i])
                            for i, j in pairs)
                out.append((eq.start + offset, eq.end + offset, None, holds))
                computations.append((eq.start + offset, eq.end + offset, eq.sides, holds))
    return out


def analyze(text: str, n_tokens: int | None = None) -> DensityReport:
    """Steps (keyword, substitution, recompute; hollow reported, not counted), density and consistency."""
    text = text[:MAX_TEXT]
    equations = list(find_equations(text, max_equations=MAX_EQUATIONS))
    scan = equation_steps(equations)
    work = sorted(scan.work)
    if len(equations) >= MAX_EQUATIONS:  # a long chain: later checks are still backed by their computations
        work += _plain_work(text[equations[-1].end:], equations[-1].end, scan.computations)
    starts = [w[0] for w in work]
    steps = list(scan.steps)
    for ks, ke in keyword_spans(text):
        backed = _backing(text, ks, ke, work, starts)
        if backed is None:
            steps.append(VerificationStep(ks, ke, HOLLOW, text[ks:ke]))
            continue
        start, end, kind, holds = backed
        if holds and kind == "keyword" and start < ks and MARKERS.fullmatch(text[ks:ke]) \
                and decorates(text, start, ks):
            steps.append(VerificationStep(ks, ke, HOLLOW, text[ks:ke]))  # a tick on the computation itself
            continue
        steps.append(VerificationStep(start, end, kind if holds else FALSE, text[start:end]))
    steps += cue_steps(text, lambda ks, ke: _backing(text, ks, ke, work, starts, retro=True))
    steps.sort(key=lambda s: (s.start, -s.end, s.kind == HOLLOW))
    merged: list[VerificationStep] = []
    for s in steps:  # overlapping steps are one check: the widest, earliest one stands for it
        if merged and s.start < merged[-1].end:
            continue
        if merged and s.kind == "substitution" == merged[-1].kind and _BOTH.fullmatch(text, merged[-1].end, s.start):
            merged[-1] = VerificationStep(merged[-1].start, s.end, s.kind, text[merged[-1].start:s.end])
            continue  # "2(4) + 3 = 11 and 4 - 3 = 1": one value put into both equations is one check
        if merged and s.kind == HOLLOW == merged[-1].kind and _ADJACENT.fullmatch(text, merged[-1].end, s.start):
            merged[-1] = VerificationStep(merged[-1].start, s.end, HOLLOW, text[merged[-1].start:s.end])
            continue  # adjacent markers ("**verified** ✓✓") are one claim
        merged.append(s)
    counted = sum(s.kind not in (HOLLOW, FALSE) for s in merged)
    process = judge(text, scan.computations, [(s.start, s.end) for s in merged if s.kind not in (HOLLOW, FALSE)])
    n_false = sum(s.kind == FALSE for s in merged)
    tokens = n_tokens if n_tokens and n_tokens > 0 else approx_tokens(text)
    paragraphs = max(1, sum(1 for p in _PARAGRAPH.split(text) if p.strip()))
    return DensityReport(
        steps=tuple(merged),
        density=1000.0 * counted / tokens,
        per_paragraph=counted / paragraphs,
        n_tokens=tokens,
        arithmetic_consistency=(scan.n_true / scan.n_eval) if scan.n_eval else None,
        n_equalities=scan.n_eval,
        n_hollow=len(merged) - counted - n_false,
        true_checks=counted,
        false_checks=n_false,
        caught=process.caught,
        uncaught_false=process.uncaught,
    )
