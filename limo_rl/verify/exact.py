"""Exact values of arithmetic answers over the Gaussian rationals Q(i): the fast tier's proof of "equal".

A fast "equal" must be a proof, so this tier computes, never approximates: numbers
(integers, decimals, repeating decimals are handled in :mod:`.normalize`), ``i``, ``+ - *
/``, integer powers, ``\\frac``, ``\\cdot``/``\\times``, brackets and implicit products,
square roots and moduli only where the result is rational (``\\sqrt{16}``, ``|3+4i|``), all in
``fractions.Fraction`` pairs (real, imaginary). ``(1+i)^2``, ``i^{2023}``, ``\\frac{3}{4}`` and
``2(3-i)`` get exact values; anything else (a letter other than ``i``, ``\\pi``, an irrational
root) is "no exact value" (``None``) and goes on to the symbolic tier.

Every operation is bounded (token count, digits, exponent size, result bits) so untrusted
text can never make this compute something huge. Text is tokenized, never evaluated as code.

Pure core: standard library only.
"""

from __future__ import annotations

import math
from fractions import Fraction

from limo_rl.verify.lexer import scan

MAX_TOKENS = 120  # this grammar's token limit (the lexer's scan enforces it)
MAX_DIGITS = 400
MAX_EXP = 4096
MAX_BITS = 4096

_SKIP = frozenset(("left", "right", "displaystyle", "big", "Big", "bigl", "bigr", "Bigl", "Bigr"))


class NoValue(Exception):
    """Outside the exact grammar, or too big to compute safely."""


Gauss = tuple[Fraction, Fraction]


def _check(z: Gauss) -> Gauss:
    for part in z:
        if part.numerator.bit_length() > MAX_BITS or part.denominator.bit_length() > MAX_BITS:
            raise NoValue("too large")
    return z


def _mul(a: Gauss, b: Gauss) -> Gauss:
    return _check((a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]))


def _div(a: Gauss, b: Gauss) -> Gauss:
    den = b[0] * b[0] + b[1] * b[1]
    if den == 0:
        raise NoValue("division by zero")
    return _check(((a[0] * b[0] + a[1] * b[1]) / den, (a[1] * b[0] - a[0] * b[1]) / den))


def _pow(a: Gauss, b: Gauss) -> Gauss:
    if b[1] != 0 or b[0].denominator != 1:
        if a[1] == 0 and b[1] == 0 and a[0] >= 0:  # a rational power of a rational: exact only if it is
            root = _rational_root(a[0], b[0].denominator)
            if root is not None:
                return _pow((root, Fraction(0)), (Fraction(b[0].numerator), Fraction(0)))
        raise NoValue("non-integer exponent")
    e = int(b[0])
    if abs(e) > MAX_EXP:
        raise NoValue("exponent too large")
    if a == (0, 0):
        if e <= 0:
            raise NoValue("0 to a non-positive power")
        return a
    size = max(a[0].numerator.bit_length(), a[0].denominator.bit_length(), a[1].numerator.bit_length(),
               a[1].denominator.bit_length(), 1)
    if a[1] == 0 and abs(a[0]) == 1 or (a[0] == 0 and abs(a[1]) == 1):
        size = 0  # units (1, -1, i, -i) never grow
    if size * abs(e) > MAX_BITS:
        raise NoValue("result too large")
    result: Gauss = (Fraction(1), Fraction(0))
    base = a if e >= 0 else _div((Fraction(1), Fraction(0)), a)
    n = abs(e)
    while n:
        if n & 1:
            result = _mul(result, base)
        n >>= 1
        if n:
            base = _mul(base, base)
    return result


def _rational_root(q: Fraction, k: int) -> Fraction | None:
    """The exact k-th root of a non-negative rational, or None if it is irrational."""
    if q < 0 or k > 64:
        return None
    out = []
    for part in (q.numerator, q.denominator):
        if k == 2:
            r = math.isqrt(part)
        elif part.bit_length() < 1000:
            r = round(part ** (1.0 / k))
        else:
            return None
        hit = next((c for c in (r - 1, r, r + 1) if c >= 0 and c**k == part), None)
        if hit is None:
            return None
        out.append(hit)
    return Fraction(out[0], out[1])


def _sqrt(z: Gauss) -> Gauss:
    if z[1] != 0 or z[0] < 0:
        raise NoValue("square root of a non-positive or complex value")
    root = _rational_root(z[0], 2)
    if root is None:
        raise NoValue("irrational root")
    return (root, Fraction(0))


def _abs(z: Gauss) -> Gauss:
    return _sqrt((z[0] * z[0] + z[1] * z[1], Fraction(0)))


def _token(kind: str, text: str) -> tuple[str, str] | None:
    if kind == "num":
        if len(text) > MAX_DIGITS:
            raise NoValue("too many digits")
        return ("num", text)
    if kind == "cmd":
        if text in _SKIP:
            return None
        if text in ("cdot", "times"):
            return ("op", "*")
        if text == "div":
            return ("op", "/")
        if text in ("frac", "dfrac", "tfrac", "sqrt"):
            return ("cmd", "sqrt" if text == "sqrt" else "frac")
        if text in ("lvert", "rvert", "vert"):
            return ("op", "|")
        raise NoValue(f"\\{text}")
    if kind == "letter":
        if text != "i":
            raise NoValue("a variable")
        return ("i", "i")
    if text in "+-*/^(){}[]|":
        return ("op", text)
    raise NoValue(text)


def _tokens(s: str) -> list[tuple[str, str]]:
    return scan(s, _token, NoValue("too long"), max_tokens=MAX_TOKENS)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.t, self.i = tokens, 0
        self.in_abs = 0

    def peek(self) -> tuple[str, str] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise NoValue(f"expected {value}")
        self.i += 1
        return tok

    def expr(self) -> Gauss:
        node = self.term()
        while (tok := self.peek()) in (("op", "+"), ("op", "-")):
            self.take()
            rhs = self.term()
            node = _check((node[0] + rhs[0], node[1] + rhs[1]) if tok[1] == "+" else
                          (node[0] - rhs[0], node[1] - rhs[1]))
        return node

    def term(self) -> Gauss:
        node = self.unary()
        while (tok := self.peek()) is not None:
            if tok in (("op", "*"), ("op", "/")):
                self.take()
                rhs = self.unary()
                node = _mul(node, rhs) if tok[1] == "*" else _div(node, rhs)
            elif tok[0] in ("num", "i", "cmd") or tok in (("op", "("), ("op", "{"), ("op", "[")) or (
                    tok == ("op", "|") and not self.in_abs):
                node = _mul(node, self.power())  # implicit product: 2i, 3(1+i), 2\sqrt{4}
            else:
                return node
        return node

    def unary(self) -> Gauss:
        tok = self.peek()
        if tok in (("op", "-"), ("op", "+")):
            self.take()
            inner = self.unary()
            return (-inner[0], -inner[1]) if tok[1] == "-" else inner
        return self.power()

    def power(self) -> Gauss:
        node = self.atom()
        if self.peek() == ("op", "^"):
            self.take()
            tok = self.peek()
            if tok == ("op", "{"):
                exp = self.group()
            elif tok is not None and tok[0] == "num" and len(tok[1]) == 1:
                self.take()
                exp = (Fraction(tok[1]), Fraction(0))
            elif tok is not None and tok[0] == "i":
                raise NoValue("imaginary exponent")
            else:
                raise NoValue("ambiguous exponent")  # x^23 is x^2 * 3 in TeX
            node = _pow(node, exp)
        return node

    def group(self) -> Gauss:
        self.take("{")
        node = self.expr()
        self.take("}")
        return node

    def atom(self) -> Gauss:
        kind, val = self.take()
        if kind == "num":
            return (Fraction(val if not val.endswith(".") else val[:-1]), Fraction(0))
        if kind == "i":
            return (Fraction(0), Fraction(1))
        if kind == "cmd":
            if val == "sqrt":
                if self.peek() == ("op", "["):
                    raise NoValue("n-th root")
                return _sqrt(self._arg())
            num = self._arg()
            return _div(num, self._arg())
        if val in "({[":
            close = {"(": ")", "{": "}", "[": "]"}[val]
            node = self.expr()
            self.take(close)
            return node
        if val == "|":
            self.in_abs += 1
            node = self.expr()
            self.in_abs -= 1
            self.take("|")
            return _abs(node)
        raise NoValue(val)

    def _arg(self) -> Gauss:
        if self.peek() == ("op", "{"):
            return self.group()
        tok = self.take()  # \frac12: single-digit arguments
        if tok[0] == "num" and len(tok[1]) == 1:
            return (Fraction(tok[1]), Fraction(0))
        if tok[0] == "i":
            return (Fraction(0), Fraction(1))
        raise NoValue("argument")


def exact_value(s: str) -> Gauss | None:
    """(real, imaginary) exact value of an arithmetic answer, or None when it has none here."""
    if len(s) > 600:
        return None
    try:
        p = _Parser(_tokens(s))
        if not p.t:
            return None
        node = p.expr()
        if p.peek() is not None:
            return None
        return node
    except (NoValue, RecursionError, ZeroDivisionError, OverflowError, ValueError):
        return None


