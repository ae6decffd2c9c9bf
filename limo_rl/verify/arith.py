"""Equations in reasoning text: find them, and evaluate their sides exactly and safely.

Verification density and arithmetic consistency need the numeric equalities a chain writes
(``3 \\times 4 = 12``, ``2(5) + 1 = 11``, ``x = 5``). Model text is untrusted, so this is a
small recursive-descent parser of its own over a fixed grammar (numbers, one-letter
variables, ``+ - * / ^``, parentheses, ``\\frac``, ``\\times``, ``\\cdot``, implicit
multiplication) into exact ``Fraction`` arithmetic: no ``eval``, no ``sympify``. Every
operation is bounded (digit counts, exponents, result size), and anything outside the
grammar is simply "not evaluable", never an error.

Pure core: standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from limo_rl.verify.lexer import scan

MAX_TOKENS = 80  # this grammar's token limit (the lexer's scan enforces it)
MAX_DIGITS = 30
MAX_EXP = 64
MAX_RESULT_BITS = 512

_LATEX_SUBS = (
    (re.compile(r"\\(?:times|cdot|ast)"), "*"),
    (re.compile(r"\\div"), "/"),
    (re.compile(r"\\(?:left|right|,|;|!|quad)"), " "),
    (re.compile(r"(?<=\d),(?=\d{3}(?!\d))"), ""),
)
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_OPS = frozenset("-+*/^()=")


class NotEvaluable(Exception):
    """The text is outside the small grammar, or too big to evaluate safely."""


def to_plain(expr: str) -> str:
    """LaTeX arithmetic -> plain ``+-*/^()`` text (bounded rewriting)."""
    s = expr
    for _ in range(4):
        s2 = _FRAC.sub(r"((\1)/(\2))", s)
        if s2 == s:
            break
        s = s2
    for pat, rep in _LATEX_SUBS:
        s = pat.sub(rep, s)
    s = s.replace("{", "(").replace("}", ")")
    return s


@lru_cache(maxsize=16384)
def _plain_tokens(expr: str) -> tuple[str, ...] | None:
    """Tokens of an expression after LaTeX rewriting, or None outside the grammar (cached: sides repeat)."""
    try:
        return tuple(tokenize(to_plain(expr)))
    except NotEvaluable:
        return None


def _token(kind: str, text: str) -> str:
    if kind in ("num", "letter") or (kind == "other" and text in _OPS):
        return text
    raise NotEvaluable(text)


def tokenize(s: str) -> list[str]:
    """Numbers, one-letter variables and ``+-*/^()=`` of plain text (see :mod:`.lexer`)."""
    return scan(s, _token, NotEvaluable("too long"), strict_decimals=True, max_tokens=MAX_TOKENS)


_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "^": 4}


def _apply(op: str, vals: list) -> None:
    if op == "neg":
        if not vals:
            raise NotEvaluable("dangling minus")
        vals[-1] = -vals[-1]
        return
    if len(vals) < 2:
        raise NotEvaluable("missing operand")
    b = vals.pop()
    a = vals.pop()
    if op == "+":
        r = a + b
    elif op == "-":
        r = a - b
    elif op == "*":
        r = a * b
    elif op == "/":
        if b == 0:
            raise NotEvaluable("division by zero")
        r = a // b if type(a) is int and type(b) is int and a % b == 0 else Fraction(a) / b
    else:  # "^"
        if getattr(b, "denominator", 1) != 1 or abs(b) > MAX_EXP:
            raise NotEvaluable("exponent")
        e = int(b)
        if a == 0 and e < 0:
            raise NotEvaluable("0 to a negative power")
        if abs(a) > 1 and abs(e) * max(a.bit_length() if type(a) is int else a.numerator.bit_length(), 1) \
                > MAX_RESULT_BITS:
            raise NotEvaluable("result too large")
        r = (Fraction(a) if e < 0 else a) ** e
    _check(r)
    vals.append(r)


def _evaluate_tokens(tokens: tuple[str, ...], env: Mapping[str, Fraction]) -> Fraction | int:
    """Shunting-yard over tokens with exact int/Fraction values; implicit products; bounded."""
    vals: list = []
    ops: list[str] = []
    prev = None  # kind of the previous token: "val", "op", "(" or None
    for tok in tokens:
        c = tok[0]
        if c.isdigit() or c.isalpha():
            if prev in ("val", ")"):
                _push_op("*", ops, vals)
            if c.isdigit():
                if len(tok) > MAX_DIGITS:
                    raise NotEvaluable("too many digits")
                vals.append(int(tok) if tok.isdigit() else Fraction(tok))
            elif tok in env:
                vals.append(env[tok])
            else:
                raise NotEvaluable(f"free variable {tok}")
            prev = "val"
        elif tok == "(":
            if prev in ("val", ")"):
                _push_op("*", ops, vals)
            ops.append("(")
            prev = "("
        elif tok == ")":
            while ops and ops[-1] != "(":
                _apply(ops.pop(), vals)
            if not ops:
                raise NotEvaluable("unbalanced")
            ops.pop()
            prev = ")"
        elif tok in "+-" and prev in (None, "op", "("):
            if tok == "-":
                ops.append("neg")
            prev = "op"
        elif tok in _PREC:
            if prev not in ("val", ")"):
                raise NotEvaluable("operator without operand")
            _push_op(tok, ops, vals)
            prev = "op"
        else:
            raise NotEvaluable(tok)
    while ops:
        op = ops.pop()
        if op == "(":
            raise NotEvaluable("unbalanced")
        _apply(op, vals)
    if len(vals) != 1:
        raise NotEvaluable("malformed")
    return vals[0]


def _push_op(op: str, ops: list[str], vals: list) -> None:
    prec = _PREC[op]
    while ops and ops[-1] != "(":
        top = ops[-1]
        if _PREC[top] > prec or (_PREC[top] == prec and op != "^"):
            _apply(ops.pop(), vals)
        else:
            break
    ops.append(op)


def _check(value: Fraction | int) -> None:
    if isinstance(value, int):
        if value.bit_length() > MAX_RESULT_BITS:
            raise NotEvaluable("result too large")
    elif value.numerator.bit_length() > MAX_RESULT_BITS or value.denominator.bit_length() > MAX_RESULT_BITS:
        raise NotEvaluable("result too large")


def evaluate(expr: str, env: Mapping[str, Fraction] | None = None) -> Fraction:
    """The exact value of a plain-text arithmetic expression; raises :class:`NotEvaluable`."""
    tokens = _plain_tokens(expr)
    if tokens is None:
        raise NotEvaluable(expr[:20])
    value = _evaluate_tokens(tokens, env or {})
    return Fraction(value) if isinstance(value, int) else value


def variables(expr: str) -> set[str]:
    """One-letter variables of an expression (empty if it is outside the grammar)."""
    toks = _plain_tokens(expr)
    return {t for t in toks if t.isalpha()} if toks else set()


def numbers(expr: str) -> list[str]:
    toks = _plain_tokens(expr)
    return [t for t in toks if t[0].isdigit()] if toks else re.findall(r"\d+(?:\.\d+)?", expr)


@dataclass(frozen=True)
class Equation:
    """One ``a = b (= c ...)`` found in the text, with its character span."""

    start: int
    end: int
    sides: tuple[str, ...]


_UNIT_SUFFIX = re.compile(
    r"(?<=\d)\s+(?:mm|cm|km|m|kg|g|mg|s|ms|h|hr|hrs|min|N|J|kJ|W|kW|V|A|Pa|Hz|L|mL|ml|mph|m/s|km/h|m/s\^2)$")
_EQ_SPLIT = re.compile(r"(?<![<>!\\])=(?!=)")
_STOP = frozenset("$\n,;:?!")
_MATHY = frozenset("0123456789+-*/^(){}[]. \t\\=_'")


def _word_run(text: str, i: int, step: int) -> int:
    """Length of the run of letters at ``i`` going in direction ``step``."""
    n = 0
    while 0 <= i < len(text) and text[i].isalpha() and text[i].isascii():
        i += step
        n += 1
    return n


def _left_edge(text: str, i: int, floor: int) -> int:
    j = i - 1
    while j >= floor:
        ch = text[j]
        if ch in _STOP or (ch == "." and j + 1 < len(text) and text[j + 1] in " \n"):
            return j + 1
        if ch.isalpha() and ch.isascii():
            run = _word_run(text, j, -1)
            start = j - run + 1
            if run >= 2 and not (start > 0 and text[start - 1] == "\\"):
                return j + 1
            j = start - 1
            continue
        if ch not in _MATHY:
            return j + 1
        j -= 1
    return floor


def _right_edge(text: str, i: int, ceil: int) -> int:
    j = i + 1
    while j < ceil:
        ch = text[j]
        if ch in _STOP or (ch == "." and (j + 1 >= len(text) or text[j + 1] in " \n")):
            return j
        if ch.isalpha() and ch.isascii():
            run = _word_run(text, j, 1)
            if run >= 2 and not (j > 0 and text[j - 1] == "\\"):
                return j
            j += run
            continue
        if ch not in _MATHY:
            return j
        j += 1
    return ceil


def find_equations(text: str, max_equations: int = 400, max_segment: int = 400) -> Iterator[Equation]:
    """Equation-like segments around each ``=`` (prose words and delimiters end them), split at ``=``.

    Work is proportional to the equations' own length, not the chain's: only the text around
    each ``=`` is scanned, at most ``max_segment`` characters either way.
    """
    count, covered = 0, 0
    i = text.find("=")
    while i != -1 and count < max_equations:
        if i < covered or (i > 0 and text[i - 1] in "<>!\\=") or text[i + 1: i + 2] == "=":
            i = text.find("=", i + 1)
            continue
        left = _left_edge(text, i, max(covered, i - max_segment))
        right = _right_edge(text, i, min(len(text), i + max_segment))
        k = text.find("=", i + 1, right)
        while k != -1:  # a chain a = b = c: extend over the following sides
            right = max(right, _right_edge(text, k, min(len(text), k + max_segment)))
            k = text.find("=", k + 1, right)
        covered = right
        seg = text[left:right]
        sides = tuple(x.strip() for x in _EQ_SPLIT.split(seg))
        if len(sides) >= 2 and (unit := _UNIT_SUFFIX.search(sides[-1])):
            sides = (*sides[:-1], sides[-1][:unit.start()])  # "= 80 m", "= 5 m/s^2": the number, not m times 80
        if len(sides) >= 2 and all(sides):
            lead = len(seg) - len(seg.lstrip())
            yield Equation(left + lead, left + len(seg.rstrip()), sides)
            count += 1
        i = text.find("=", right)


def close_enough(a: Fraction, b: Fraction, written_b: str) -> bool:
    """Equal, or equal to the precision a decimal was written with (``1/3 = 0.333``)."""
    if a == b:
        return True
    if "." in written_b:
        decimals = len(written_b.rsplit(".", 1)[1].split()[0].rstrip(")")) if written_b.rsplit(".", 1)[1] else 0
        decimals = max(1, min(decimals, 12))
        return abs(a - b) <= Fraction(1, 10**decimals)
    return False


def shape(expr: str) -> tuple[str, ...]:
    """The written order of an expression's numbers, variables and operators, ignoring brackets and
    explicit ``*`` (``6 \\times 7``, ``6 \\cdot 7`` and ``(6)(7)`` have one shape; ``7 \\times 6`` another)."""
    toks = _plain_tokens(expr)
    return tuple(t for t in toks if t not in "()*") if toks else (expr,)
