"""Answer normalization and bounded numeric parsing: the in-process fast path's vocabulary.

Benchmark answers are LaTeX of every kind; most of them (AIME/AMC integers, MATH fractions,
GSM-style decimals) need no computer algebra at all. This module turns the common spellings
into one canonical string, and numbers into exact ``Fraction`` values, with regular
expressions and integer arithmetic only. Following the normalization steps of the MATH
grader (Hendrycks et al. 2021, ``is_equiv``) and of math-verify's ``NormalizationConfig``,
but written for speed and with hard bounds: a digit run longer than :data:`MAX_DIGITS` or an
exponent beyond :data:`MAX_EXP` is refused here (returns ``None``), so untrusted text can
never make the caller compute a huge power; such items go to the killable worker instead.

Pure core: standard library only. Nothing here evaluates text as code.
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_DIGITS = 50  # digit runs in scientific notation, fractions and decimals
MAX_INT_DIGITS = 4000  # a plain integer may be long: Python ints compare exactly (never as floats)
MAX_EXP = 300
MAX_LEN = 2000  # longer answers skip the fast path

UNIT_WORDS = (
    "cm", "mm", "km", "m", "meter", "meters", "metre", "metres", "centimeters", "kilometers", "inch", "inches",
    "in", "ft", "feet", "foot", "yard", "yards", "mile", "miles", "mph", "sq", "square", "units", "unit",
    "degree", "degrees", "deg", "dollars", "dollar", "cents", "cent", "seconds", "second", "sec", "s", "minutes",
    "minute", "min", "mins", "secs", "hours", "hour", "hr", "hrs", "yr", "yrs", "wk", "wks", "days", "day", "weeks", "years", "grams", "gram", "g", "kg", "pounds",
    "lb", "lbs", "ounces", "oz", "liters", "liter", "l", "ml", "people", "students", "ways", "times", "points",
    "percent", "cubic", "rad", "radians", "j", "kj", "ev", "n", "pa", "k", "hz", "w", "v", "a", "mol",
)
_UNIT_RE = "|".join(sorted((re.escape(u) for u in UNIT_WORDS), key=len, reverse=True))
NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
}

_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}(\^\{?[23]\}?)?")
_SPACING = re.compile(r"(?<!\\)\\(?:;|:|quad|qquad|enspace|thinspace|medspace|thickspace| )")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree|\^\s*\{\s*\\text\{\s*o\s*\}\s*\}")
_ASSIGN = re.compile(r"^[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?\s*(?:=|\\in)\s*(?=\S)")
_TUPLE_NAMES = re.compile(r"^\(\s*[A-Za-z](?:_\{?\w+\}?)?(?:\s*,\s*[A-Za-z](?:_\{?\w+\}?)?)+\s*\)\s*=\s*(?=[(\[])")
_IN = re.compile(r"^[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?\s*\\in\s*(?=\S)")
_TRAILING_UNIT = re.compile(rf"(?<=[0-9}}])(?:\s|\\\s|~)+(?:{_UNIT_RE})(?:\^\{{?[23]\}}?|\^[23])?\.?$", re.I)
_TRIG = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc)")
_DEG_VALUE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:\^\s*\{?\s*\\circ\s*\}?|°|\\degree)")


EMPTY_SET = "\\emptyset"
_EMPTY = re.compile(r"\\(?:emptyset|varnothing)|∅|\\\{\s*\\\}|\{\s*\}"
                    r"|(?:the\s+)?empty\s+set|no\s+(?:real\s+)?solutions?|\\text\{\s*no\s+solutions?\s*\}")


REALS = "(-\\infty,\\infty)"
_REALS = re.compile(r"\\mathbb\s*\{?\s*R\s*\}?|\\(?:mathbf|Bbb|mathrm)\s*\{\s*R\s*\}|\\R|ℝ"
                    r"|\(\s*-\s*\\infty\s*,\s*\+?\s*\\infty\s*\)"
                    r"|(?i:(?:the\s+)?(?:set\s+of\s+)?(?:all|any|every)\s+real(?:\s+numbers?|s)?(?:\s+x)?)")


def strip_math_delims(s: str) -> str:
    s = s.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
            s = s[len(left): len(s) - len(right)].strip()
    return s


def _unwrap_text(match: re.Match) -> str:
    inner = match.group(1).strip()
    if re.fullmatch(rf"~?\s*(?:{_UNIT_RE})(?:\s+(?:{_UNIT_RE}))*(?:\^[23])?", inner, re.I) or not inner:
        return ""  # unit words in \text{} (with their ^2): decoration, dropped
    return inner + (match.group(2) or "")


def normalize(answer: str, strip_assignment: bool = True) -> str:
    """A canonical spelling of a short answer (no evaluation): delimiters, spacing, units, degrees, ``x =``
    (a lone ``x = ...`` loses its ``x =`` unless ``strip_assignment`` is False)."""
    s = strip_math_delims(answer)
    if len(s) > MAX_LEN:
        return s
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\displaystyle", "")
    s = s.replace("\\left", "").replace("\\right", "").replace("\\!", "")
    s = re.sub(r"(?<=\d)\\,(?=\d{3}\b)", "", s)  # 25\,000
    s = s.replace("{,}", ",") if re.search(r"\d\{,\}\d{3}", s) else s
    s = re.sub(r"(?<=\d)\{,\}(?=\d{3})", "", s)
    s = s.replace("\\,", " ").replace("~", " ")
    s = _SPACING.sub(" ", s)
    if _TRIG.search(s):  # sin 60^\circ: degrees are a unit inside trig, so convert rather than drop
        s = _DEG_VALUE.sub(lambda m: "\\frac{" + m.group(1) + "\\pi}{180}", s)
    s = _DEGREES.sub("", s)
    for _ in range(3):
        s2 = _TEXT_CMD.sub(_unwrap_text, s)
        if s2 == s:
            break
        s = s2
    s = s.replace("\\$", "").replace("\\%", "%").strip()
    s = re.sub(r"[.;,]+$", "", s).strip()
    if s.endswith("%") is False:
        s = _TRAILING_UNIT.sub("", s).strip()
    if strip_assignment and (m := _TUPLE_NAMES.match(s)):
        s = s[m.end():]  # (x, y) = (3, -2): the tuple itself
    if strip_assignment and (m := _IN.match(s)):
        s = s[m.end():]  # x \in [1,2): the set itself
    m = _ASSIGN.match(s)
    if strip_assignment and m and "=" not in s[m.end():] and "," not in s[m.end():]:
        s = s[m.end():]
    s = re.sub(r"\s+", " ", s).strip()
    low = s.lower()
    if low in NUMBER_WORDS:
        s = str(NUMBER_WORDS[low])
    elif _EMPTY.fullmatch(low):
        s = EMPTY_SET
    elif _REALS.fullmatch(s):
        s = REALS  # the whole real line, however it is spelled
    return s


def squash(s: str) -> str:
    """``normalize`` without any whitespace and with ``\\frac12``-style shortcuts braced: for string equality."""
    s = re.sub(r"\s+", "", s)
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\sqrt(\d+)", r"\\sqrt{\1}", s)
    return s


# ---------------------------------------------------------------------------------------- numbers
_NUM = r"(?:\d+\.?\d*|\.\d+)"
_INT_SEP = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_PLAIN = re.compile(rf"^([+-]?){_NUM}$")
_SCI_E = re.compile(rf"^([+-]?{_NUM})[eE]([+-]?\d+)$")
_SCI_T = re.compile(rf"^([+-]?{_NUM})(?:\\times|\\cdot|\*|×)10\^(?:\{{([+-]?\d+)\}}|([+-]?\d))$")
_POW10 = re.compile(r"^([+-]?)10\^(?:\{([+-]?\d+)\}|([+-]?\d))$")
_FRAC = re.compile(r"^([+-]?)\\frac\{([+-]?\d+)\}\{([+-]?\d+)\}$")
_SLASH = re.compile(r"^([+-]?)\(?([+-]?\d+)\)?/\(?([+-]?\d+)\)?$")
_MIXED = re.compile(r"^(\d+)\\frac\{(\d+)\}\{(\d+)\}$")


class Num:
    """An exact value with how it was written: ``decimals`` is set for decimal literals (rounding context)."""

    __slots__ = ("value", "decimals", "percent")

    def __init__(self, value: Fraction, decimals: int | None = None, percent: bool = False):
        self.value, self.decimals, self.percent = value, decimals, percent

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Num({self.value}, decimals={self.decimals}, percent={self.percent})"


def _digits_ok(s: str) -> bool:
    return all(len(run) <= MAX_DIGITS for run in re.findall(r"\d+", s))


def _decimal(text: str) -> Num:
    text = text.lstrip("+")
    decimals = len(text.split(".", 1)[1]) if "." in text else None
    return Num(Fraction(text if not text.endswith(".") else text[:-1]), decimals or None)


def parse_number(s: str) -> Num | None:
    """An exact number from a normalized answer, or ``None`` if it is not a plain number (or out of bounds)."""
    s = squash(s)
    if re.fullmatch(r"[+-]?\d+", s) and len(s) <= MAX_INT_DIGITS + 1:
        return Num(Fraction(int(s)))  # exact, however long: 12345678901234567891 is not ...890
    if not s or len(s) > 120 or not _digits_ok(s):
        return None
    if (rep := repeating_decimal(s)) is not None:
        return Num(rep)
    percent = False
    if s.endswith("%"):
        percent, s = True, s[:-1]
    if s.startswith("{") and s.endswith("}") and s.count("{") == 1:
        s = s[1:-1]
    if _INT_SEP.match(s):
        s = s.replace(",", "")
    num: Num | None = None
    if _PLAIN.match(s):
        num = _decimal(s)
    elif m := _SCI_E.match(s) or _SCI_T.match(s):
        exp = int(m.group(2) if m.group(2) is not None else m.group(3))
        if abs(exp) > MAX_EXP:
            return None
        base = _decimal(m.group(1))
        num = Num(base.value * Fraction(10) ** exp, None)
    elif m := _POW10.match(s):
        exp = int(m.group(2) if m.group(2) is not None else m.group(3))
        if abs(exp) > MAX_EXP:
            return None
        num = Num((-1 if m.group(1) == "-" else 1) * Fraction(10) ** exp)
    elif m := _FRAC.match(s) or _SLASH.match(s):
        den = int(m.group(3))
        if den == 0:
            return None
        num = Num((-1 if m.group(1) == "-" else 1) * Fraction(int(m.group(2)), den))
    elif m := _MIXED.match(s):
        den = int(m.group(3))
        if den == 0:
            return None
        num = Num(int(m.group(1)) + Fraction(int(m.group(2)), den))
    if num is None:
        return None
    if percent:
        num.percent = True
    return num


_REPEAT = re.compile(
    r"^([+-]?)(\d*)\.(\d*)(?:\\overline\{(\d+)\}|\\overline(\d)|\\dot\{(\d)\}|\\dot(\d)|\((\d+)\)"
    r"|\\dot\{(\d)\}(\d*)\\dot\{(\d)\})(?:\.{3}|\\ldots|\\dots)?$"
)


def repeating_decimal(s: str) -> Fraction | None:
    """The exact value of a repeating decimal: ``0.\\overline{3}``, ``0.1\\overline{6}``, ``0.(3)``, ``0.\\dot{3}``,
    ``0.\\dot{1}4285\\dot{7}``; None for anything else."""
    m = _REPEAT.match(s)
    if not m:
        return None
    sign, whole, fixed = m.group(1), m.group(2) or "0", m.group(3)
    if m.group(9) is not None:
        rep = m.group(9) + m.group(10) + m.group(11)
    else:
        rep = next(g for g in m.groups()[3:8] if g is not None)
    a, r = len(fixed), len(rep)
    value = int(whole) + Fraction(int(fixed + rep) - int(fixed or "0"), 10**a * (10**r - 1))
    return -value if sign == "-" else value


def _rounds_to(exact: Fraction, decimals: int, written: Fraction) -> bool:
    """Does ``exact`` round (half either way) or truncate to ``written`` at ``decimals`` places?"""
    step = Fraction(1, 10**decimals)
    return abs(exact - written) <= step / 2 or (abs(exact - written) < step and abs(written) <= abs(exact))


def numbers_equal(gold: Num, pred: Num) -> bool:
    """Exact equality (a percentage may stand for its fraction): a fast "equal" is a proof.

    ``0.333`` is not ``1/3`` and ``1.2e-9`` is not ``1.2e-10``; golds that are themselves rounded
    are compared by :func:`approx_equal` only when the caller asks for that (answer type ``approx``).
    """
    for g, p in _percent_candidates(gold, pred):
        if g == p:
            return True
    return False


def approx_equal(gold: Num, pred: Num) -> bool:
    """The documented numeric mode for approximate golds: ``pred`` rounds (half either way) or truncates
    to ``gold`` at the decimals the gold was written with (gold ``0.33`` accepts ``1/3`` and ``0.3333``).
    An integer gold, or an exact one, is compared exactly."""
    for g, p in _percent_candidates(gold, pred):
        if g == p or (gold.decimals and _rounds_to(p, gold.decimals, g)):
            return True
    return False


def _percent_candidates(gold: Num, pred: Num) -> list[tuple[Fraction, Fraction]]:
    candidates = [(gold.value, pred.value)]
    if pred.percent and not gold.percent:
        candidates.append((gold.value, pred.value / 100))
    if gold.percent and not pred.percent:
        candidates.append((gold.value / 100, pred.value))
    return candidates
