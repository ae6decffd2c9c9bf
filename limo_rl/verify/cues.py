"""Checks that carry no check keyword, and markers that carry nothing but the keyword.

People verify without saying "check": they try a general result on small cases ("for n = 2,
1 + 3 = 4"), confirm a found value in the problem's terms ("indeed 17 + 23 = 40", "as
required"), recount by listing, test the units of a result ("newton metres are joules, so the
unit is consistent"), or the plausibility of its size ("it is longer than both legs, as it must
be, and shorter than their sum 21"). And models decorate: "✓", "Verified.", "✅ Reasonable"
after the computation itself verify nothing. :mod:`.density` uses this module for both:

* :data:`CUES`: weak phrases of a check. Unlike keywords they are no claim on their own: a cue
  counts only when work backs it (a computation in its sentence or the one before; for listing,
  a list of at least three numbers) and is dropped otherwise, never reported as hollow;
* :data:`TRIALS`: a small case (``n = 1 ... 5``, "for a square", "a smaller range"); a run of
  trials in one paragraph is one check;
* :func:`units_spans` / :func:`plausibility_spans`: sentences that test a result's units or its
  magnitude (a plausibility word *and* a comparison *and* a number: "42 seems reasonable" alone
  is decoration, not a bound);
* :data:`MARKERS`: pure markers (ticks, "verified", "confirmed", "checks out"). A marker backed
  only by the computation that produced the value for the first time decorates that computation:
  hollow (:func:`decorates`). Markers on one line are one claim.

Also the arithmetic of checks written in words ("twelve times four is forty-eight").

Pure core: standard library only; every scan is a linear regular-expression pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction

from limo_rl.types import VerificationStep

Backing = Callable[[int, int], "tuple[int, int, str, bool] | None"]  # a phrase's span -> (start, end, kind, holds)

CUES = re.compile(
    r"\bindeed\b|\bas\s+(?:required|desired|claimed|wanted|needed|given)\b|\bas\s+(?:it|they|we)\s+(?:should|must)\b"
    r"|\bwhich\s+is\s+(?:right|correct|the\s+(?:required|given|original|same))\b|\bthe\s+same\b"
    r"|\b(?:both|all)\s+(?:\w+\s+)?(?:hold|work|agree)\b|\bmatching\b|\bpasses\s+through\b"
    r"|\b(?:dividing|multiplying|adding|subtracting|going|working)\s+back\b|\bthe\s+other\s+(?:way|order)\b"
    r"|\bbrings?\s+us\s+back\b|\bwe\s+get\s+back\b|\b(?:checking|check\s+with|also\s+check|quick\s+check"
    r"|as\s+a\s+check|one\s+more\s+check|another\s+check)\b|\b(?:is|was)\s+(?:this|that|it)\s+(?:right|correct)\b"
    r"|\blist(?:ing|ed)\b|\benumerat(?:e|ing)\b|\bcounting\s+(?:them\s+)?directly\b|\bmake\s+sure\b"
    r"|\bwait,?\s+no\b")
LISTING = re.compile(r"\blist(?:ing|ed)\b|\benumerat(?:e|ing)\b|\bcounting\s+(?:them\s+)?directly\b", re.I)
TRIALS = re.compile(
    r"\b(?:for|with|when|try(?:ing)?|take|taking|at)\s+\$?\s*[a-z]\s*=\s*[0-5]\b(?![.,]\d)"
    r"|\bfor\s+(?:a|an|the)\s+(?:square|triangle|pentagon|hexagon|cube|1\s*(?:by|\\times|x)\s*1)\b"
    r"|\b(?:smaller|small|simpler)\s+(?:case|cases|range|example|grid|number|numbers|powers?|values?)\b"
    r"|\bthe\s+same\s+(?:formula|method|rule|argument)\s+gives\b")
MARKERS = re.compile(r"✓|✔️?|✅|\\checkmark|\b(?:verified|confirmed|checks\s+out|double[- ]checked)\b", re.I)
_UNIT_WORD = (r"(?:joules?|watts?|newtons?|seconds?|minutes?|hours?|metres?|meters?|grams?|kilograms?|litres?|"
              r"liters?|volts?|amperes?|ohms?|pascals?|cm\^?3?|km|kg|m/s|cubic|square)")
_UNITS = re.compile(
    rf"(?:\b(?:units?|dimensions?|dimensionally)\b[^.\n]{{0,80}}?\b(?:agree|consistent|match|right|correct|should"
    rf"|cancel)|\b{_UNIT_WORD}\b[^.\n]{{0,80}}?\b(?:cancel|leave|leaves|leaving)\b[^.\n]{{0,60}}?"
    rf"(?:\b{_UNIT_WORD}\b|as\s+(?:it|they)\s+should)|\b{_UNIT_WORD}\b[^.\n]{{0,40}}?\b(?:are|is)\s+{_UNIT_WORD}\b"
    rf"[^.\n]{{0,60}}?\b(?:so|which)\b)",
    re.I)
_PLAUSIBLE = re.compile(r"\b(?:plausible|reasonable|makes\s+sense|sanity|impossible|as\s+it\s+must|must\s+(?:be|lie)"
                        r"|(?:lies?|sits?|is)\s+between|right\s+size|size\s+is\s+right|about\s+right"
                        r"|order\s+of\s+magnitude|as\s+it\s+should)\b")
_COMPARE = re.compile(r"\b(?:between|than|below|above|bound|bounds|estimat\w*|close\s+to|known|maximum|minimum"
                      r"|at\s+most|at\s+least|about|times|triangle|triple|whole)\b|[<>≤≥]|\\[lg]eq?\b", re.I)
_UNIT_TRIGGER = re.compile(rf"\b(?:units?|dimensions?|dimensionally|cancel|cancels|leave|leaves|leaving|{_UNIT_WORD})\b")
_END = re.compile(r"[.!?](?=\s|$)|\n")  # 26.7 is no sentence end
_START = re.compile(r".*(?:[.!?](?=\s)|\n)", re.S)
# matched against lower-cased text (much faster than re.I); the re.I twins serve text whose length lower() changes
CUES, TRIALS, _PLAUSIBLE, _UNIT_TRIGGER = (re.compile(p.pattern) for p in (CUES, TRIALS, _PLAUSIBLE, _UNIT_TRIGGER))
_CASELESS = {p: re.compile(p.pattern, re.I) for p in (CUES, TRIALS, _PLAUSIBLE, _UNIT_TRIGGER)}


def _lower(text: str) -> tuple[str, bool]:
    low = text.lower()
    return (low, True) if len(low) == len(text) else (text, False)


def _find(pattern: re.Pattern[str], low: str, lowered: bool):
    return (pattern if lowered else _CASELESS[pattern]).finditer(low)


def sentence_of(text: str, i: int) -> tuple[int, int]:
    """The sentence around position ``i`` (bounded: at most 400 characters either way)."""
    lo = max(0, i - 400)
    m = _START.match(text, lo, i)
    end = _END.search(text, i, min(len(text), i + 400))
    return (m.end() if m else lo), (end.end() if end else min(len(text), i + 400))


def _triggered(text: str, trigger: re.Pattern[str], test: Callable[[int, int], bool]) -> list[tuple[int, int]]:
    """Sentences holding a ``trigger`` match that pass ``test`` (each sentence once)."""
    low, lowered = _lower(text)
    out: list[tuple[int, int]] = []
    for m in _find(trigger, low, lowered):
        if out and m.start() < out[-1][1]:
            continue
        s, e = sentence_of(text, m.start())
        if test(s, e):
            out.append((s, e))
    return out


def units_spans(text: str) -> list[tuple[int, int]]:
    """Sentences that test a result's units or dimensions."""
    return _triggered(text, _UNIT_TRIGGER, lambda s, e: _UNITS.search(text, s, e) is not None)


def plausibility_spans(text: str) -> list[tuple[int, int]]:
    """Sentences that test a result's size against a bound, an estimate or a known fact (with a number)."""
    return _triggered(text, _PLAUSIBLE, lambda s, e: _COMPARE.search(text, s, e) is not None
                      and re.search(r"\d", text[s:e]) is not None)


def listing_backed(text: str, start: int, end: int) -> bool:
    """A listing cue whose sentence lists at least three numbers (a recount by enumeration)."""
    return len(re.findall(r"\d+", text[start:end])) >= 3


def decorates(text: str, work_start: int, marker_start: int) -> bool:
    """Does a marker backed only by the work in ``text[work_start:marker_start]`` merely decorate the first
    computation of its value (no earlier mention of the result it shows)?"""
    m = re.search(r"=\s*(-?\d[\d,]*(?:\.\d+)?)([^=]*)$", text[work_start:marker_start])
    if m is None or not re.fullmatch(r"[\s.,;:!)*$\\]*", m.group(2)):
        return False  # words between the work and the marker ("= 7, which is verified"): it refers to a check
    return re.search(rf"(?<![\d.]){re.escape(m.group(1))}(?![\d])", text[:work_start]) is None


def cue_steps(text: str, backing: Backing) -> list[VerificationStep]:
    """Checks without a keyword: backed cues, small-case trials (one per paragraph), units and plausibility
    tests. ``backing`` finds the work behind a phrase (:mod:`.density`). An unbacked cue is no claim: dropped,
    not hollow; a cue backed by a false equality is dropped too (only keywords claim a check)."""
    out: list[VerificationStep] = []
    trial_paragraphs: set[int] = set()
    low, lowered = _lower(text)
    for pattern in (CUES, TRIALS):
        for m in _find(pattern, low, lowered):
            ks, ke = m.span()
            trial = pattern is TRIALS
            para = text.rfind("\n\n", 0, ks)
            if trial and para in trial_paragraphs:
                continue
            backed = backing(ks, ke)
            if backed is None or not backed[3]:
                if LISTING.match(text, ks) and listing_backed(text, ks, sentence_of(text, ks)[1]):
                    out.append(VerificationStep(ks, ke, "listing", text[ks:ke]))
                continue
            start, end_, kind, _ = backed
            if trial:
                trial_paragraphs.add(para)
            out.append(VerificationStep(start, end_, "trial" if trial else kind if kind != "keyword" else "cue",
                                        text[start:end_]))
    for kind, spans in (("units", units_spans(text)), ("plausibility", plausibility_spans(text))):
        out += [VerificationStep(s, e, kind, text[s:e]) for s, e in spans]
    return out


# ---------------------------------------------------------------------------------------- arithmetic in words
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_WORD_NUM = (r"(?:\d+(?:\.\d+)?|(?:" + "|".join(_TENS) + r")(?:[- ](?:" + "|".join(_ONES[1:10]) + r"))?|"
             + "|".join(sorted(_ONES, key=len, reverse=True)) + r")")
_WORD_OP = r"(?:plus|minus|times|multiplied\s+by|divided\s+by|over)"
_WORD_EQ = re.compile(rf"\b({_WORD_NUM}(?:\s+{_WORD_OP}\s+{_WORD_NUM})+)\s+(?:is|equals|gives|makes|=)\s+({_WORD_NUM})\b",
                      re.I)
_OPS = {"plus": "+", "minus": "-", "times": "*", "multiplied by": "*", "divided by": "/", "over": "/"}


def _word_number(w: str) -> str:
    w = w.lower()
    if w[0].isdigit():
        return w
    parts = re.split(r"[- ]", w)
    if parts[0] in _TENS:
        return str(10 * (_TENS.index(parts[0]) + 2) + (_ONES.index(parts[1]) if len(parts) > 1 else 0))
    return str(_ONES.index(parts[0]))


def word_work(text: str, lo: int, hi: int,
              value: Callable[[str], Fraction | None]) -> list[tuple[int, int, str | None, bool]]:
    """Arithmetic written in words in ``text[lo:hi]`` ("twelve times four is forty-eight"), checked exactly
    with ``value`` (the caller's bounded evaluator)."""
    out = []
    for m in _WORD_EQ.finditer(text, lo, hi):
        expr = re.sub(rf"{_WORD_NUM}|{_WORD_OP}", lambda t: _OPS.get(re.sub(r"\s+", " ", t.group(0).lower()))
                      or _word_number(t.group(0)), m.group(1), flags=re.I)
        lhs, rhs = value(expr), value(_word_number(m.group(2)))
        if lhs is not None and rhs is not None:
            out.append((m.start(), m.end(), None, lhs == rhs))
    return out
