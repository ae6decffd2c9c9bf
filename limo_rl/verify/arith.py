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

MAX_TOKENS = 80
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
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([a-zA-Z])|([-+*/^()=]))")


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


def tokenize(s: str) -> list[str]:
    out, pos = [], 0
    s = s.strip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise NotEvaluable(s[pos:pos + 10])
        out.append(m.group(1) or m.group(2) or m.group(3))
        pos = m.end()
        if len(out) > MAX_TOKENS:
            raise NotEvaluable("too long")
    return out


class _Parser:
    def __init__(self, tokens: list[str], env: Mapping[str, Fraction]):
        self.t, self.i, self.env = tokens, 0, env
        self.vars: set[str] = set()

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise NotEvaluable("unexpected end")
        self.i += 1
        return tok

    def expr(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term()
            value = value + rhs if op == "+" else value - rhs
            _check(value)
        return value

    def term(self) -> Fraction:
        value = self.unary()
        while True:
            tok = self.peek()
            if tok in ("*", "/"):
                self.take()
                rhs = self.unary()
                if tok == "/":
                    if rhs == 0:
                        raise NotEvaluable("division by zero")
                    value = value / rhs
                else:
                    value = value * rhs
            elif tok is not None and (tok == "(" or tok[0].isalnum()):
                value = value * self.power()  # implicit multiplication: 2x, 3(4)
            else:
                return value
            _check(value)

    def unary(self) -> Fraction:
        if self.peek() in ("-", "+"):
            sign = -1 if self.take() == "-" else 1
            return sign * self.unary()
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        if self.peek() == "^":
            self.take()
            exp = self.unary()
            if exp.denominator != 1 or abs(exp) > MAX_EXP:
                raise NotEvaluable("exponent")
            if base == 0 and exp < 0:
                raise NotEvaluable("0 to a negative power")
            base = base ** int(exp)
            _check(base)
        return base

    def atom(self) -> Fraction:
        tok = self.take()
        if tok == "(":
            value = self.expr()
            if self.take() != ")":
                raise NotEvaluable("unbalanced")
            return value
        if tok[0].isdigit():
            if len(tok) > MAX_DIGITS:
                raise NotEvaluable("too many digits")
            return Fraction(tok)
        if tok.isalpha():
            self.vars.add(tok)
            if tok in self.env:
                return self.env[tok]
            raise NotEvaluable(f"free variable {tok}")
        raise NotEvaluable(tok)


def _check(value: Fraction) -> None:
    if value.numerator.bit_length() > MAX_RESULT_BITS or value.denominator.bit_length() > MAX_RESULT_BITS:
        raise NotEvaluable("result too large")


def evaluate(expr: str, env: Mapping[str, Fraction] | None = None) -> Fraction:
    """The exact value of a plain-text arithmetic expression; raises :class:`NotEvaluable`."""
    p = _Parser(tokenize(to_plain(expr)), env or {})
    value = p.expr()
    if p.peek() is not None:
        raise NotEvaluable("trailing tokens")
    return value


def variables(expr: str) -> set[str]:
    """One-letter variables of an expression (empty if it is outside the grammar)."""
    try:
        toks = tokenize(to_plain(expr))
    except NotEvaluable:
        return set()
    return {t for t in toks if t.isalpha()}


def numbers(expr: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", to_plain(expr))


@dataclass(frozen=True)
class Equation:
    """One ``a = b (= c ...)`` found in the text, with its character span."""

    start: int
    end: int
    sides: tuple[str, ...]


_SEPARATOR = re.compile(r"(?<!\\)\b[A-Za-z]{2,}\b|[$,;:?!\n]|\.(?=\s|$)|\\[()\[\]]|\\(?:le|ge|ne|neq|approx|quad)\b")
_EQ_SPLIT = re.compile(r"(?<![<>!\\])=(?!=)")


def find_equations(text: str, max_equations: int = 400, max_segment: int = 400) -> Iterator[Equation]:
    """Equation-like segments (prose words and delimiters cut them) split at ``=``; bounded work."""
    count, pos = 0, 0
    bounds = [(m.start(), m.end()) for m in _SEPARATOR.finditer(text)] + [(len(text), len(text))]
    for sep_start, sep_end in bounds:
        seg_start, seg_end = pos, sep_start
        pos = sep_end
        if seg_end - seg_start < 3 or seg_end - seg_start > max_segment:
            continue
        seg = text[seg_start:seg_end]
        if "=" not in seg:
            continue
        sides = tuple(s.strip() for s in _EQ_SPLIT.split(seg))
        if len(sides) < 2 or not all(sides):
            continue
        lead = len(seg) - len(seg.lstrip())
        yield Equation(seg_start + lead, seg_start + len(seg.rstrip()), sides)
        count += 1
        if count >= max_equations:
            return


def close_enough(a: Fraction, b: Fraction, written_b: str) -> bool:
    """Equal, or equal to the precision a decimal was written with (``1/3 = 0.333``)."""
    if a == b:
        return True
    if "." in written_b:
        decimals = len(written_b.rsplit(".", 1)[1].split()[0].rstrip(")")) if written_b.rsplit(".", 1)[1] else 0
        decimals = max(1, min(decimals, 12))
        return abs(a - b) <= Fraction(1, 10**decimals)
    return False
