"""Numeric identity testing of LaTeX expressions: a bounded, in-process middle tier.

Most non-equivalent answers to symbolic problems differ by a coefficient, a sign or an
exponent (``\\frac{\\sqrt7}{4}`` vs ``\\frac{\\sqrt3}{4}``); sympy needs tenths of a second to
say so, while evaluating both sides at a few points takes microseconds. This is the
Schwartz-Zippel idea used by answer checkers such as Minerva's and OpenAI's PRM800K
grader (compare numerically at sample points), made conservative:

* both expressions are parsed by a small grammar of our own (numbers, one-letter and
  subscripted/Greek variables, ``+ - * / ^``, ``\\frac``, ``\\sqrt``, trig, logs, ``\\pi``,
  ``e``, implicit products); anything else is "undecided" -> the symbolic tier;
* they are evaluated in complex floating point at three sample points (positive reals,
  different per variable); overflow or any math error is "undecided", so ``9^{9^{9}}``
  costs one failed ``pow``, never a hang;
* it only ever says "unequal" (a clear relative gap at every point); agreement in floating
  point is no proof (``12345678901234567891`` and ``...890`` agree to 1e-19, ``10^{-9}`` and
  ``10^{-10}`` to 1e-9), so "equal" is left to the exact and symbolic tiers;
  equations, ``i``, factorials and everything else outside the grammar are undecided.

Pure core: standard library only. Text is tokenized, never evaluated as code.
"""

from __future__ import annotations

import cmath
import math
import re
from collections.abc import Callable
from functools import lru_cache

from limo_rl.verify.lexer import scan

_GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "kappa",
          "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "phi", "varphi", "chi", "psi", "omega")
_FUNCS: dict[str, Callable[[complex], complex]] = {
    "sin": cmath.sin, "cos": cmath.cos, "tan": cmath.tan, "cot": lambda z: 1 / cmath.tan(z),
    "sec": lambda z: 1 / cmath.cos(z), "csc": lambda z: 1 / cmath.sin(z), "arcsin": cmath.asin,
    "arccos": cmath.acos, "arctan": cmath.atan, "sinh": cmath.sinh, "cosh": cmath.cosh, "tanh": cmath.tanh,
    "ln": cmath.log, "exp": cmath.exp, "log": cmath.log,
}
_SAMPLES = (1.3719, 1.9133, 2.2871)


class Undecided(Exception):
    """Outside the grammar or the safe numeric range."""


def _token(kind: str, text: str) -> tuple[str, str] | None:
    if kind == "cmd":
        if text in ("left", "right", "displaystyle", "mathrm", "mathit"):
            return None
        if text in ("cdot", "times"):
            return ("op", "*")
        if text == "div":
            return ("op", "/")
        return ("cmd", text)
    if kind == "letter":
        return ("var", text)
    return ("num" if kind == "num" else "op", text)


def _tokens(s: str) -> list[tuple[str, str]]:
    return scan(s, _token, Undecided("too long"), strict_decimals=True)


class _Parser:
    """Recursive descent to an evaluator closure ``env -> complex``."""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.t, self.i = tokens, 0
        self.names: set[str] = set()

    def peek(self) -> tuple[str, str] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise Undecided(f"expected {value}")
        self.i += 1
        return tok

    def expr(self):
        node = self.term()
        while (tok := self.peek()) in (("op", "+"), ("op", "-")):
            self.take()
            rhs = self.term()
            node = (lambda a, b: lambda e: a(e) + b(e))(node, rhs) if tok[1] == "+" else \
                (lambda a, b: lambda e: a(e) - b(e))(node, rhs)
        return node

    def term(self):
        node = self.unary()
        while (tok := self.peek()) is not None:
            if tok in (("op", "*"), ("op", "/")):
                self.take()
                rhs = self.unary()
                node = (lambda a, b: lambda e: a(e) * b(e))(node, rhs) if tok[1] == "*" else \
                    (lambda a, b: lambda e: a(e) / b(e))(node, rhs)
            elif tok[0] in ("num", "var", "cmd") or tok in (("op", "("), ("op", "{")):
                rhs = self.power()
                node = (lambda a, b: lambda e: a(e) * b(e))(node, rhs)
            else:
                return node
        return node

    def unary(self):
        tok = self.peek()
        if tok in (("op", "-"), ("op", "+")):
            self.take()
            inner = self.unary()
            return (lambda a: lambda e: -a(e))(inner) if tok[1] == "-" else inner
        return self.power()

    def _script(self):
        """A ^ or _ argument: a braced group or a single token."""
        tok = self.peek()
        if tok == ("op", "{"):
            self.take()
            node = self.expr()
            self.take("}")
            return node
        if tok is not None and tok[0] == "num" and len(tok[1]) > 1 and "." not in tok[1]:
            self.take()  # x^23 means x^2 * 3 in TeX; too ambiguous to judge here
            raise Undecided("multi-digit bare exponent")
        return self.atom()

    def power(self):
        node = self.atom()
        if self.peek() == ("op", "^"):
            self.take()
            exp = self._script()
            node = (lambda a, b: lambda e: _pow(a(e), b(e)))(node, exp)
        return node

    def atom(self):
        kind, val = self.take()
        if kind == "num":
            number = complex(float(val))
            return lambda e: number
        if kind == "var":
            if val == "i":
                raise Undecided("i may be the imaginary unit")
            if val == "e":
                return lambda e: complex(math.e)
            name = val + self._subscript()
            self.names.add(name)
            return lambda e: e[name]
        if kind == "op" and val in "({":
            close = ")" if val == "(" else "}"
            node = self.expr()
            self.take(close)
            return node
        if kind == "cmd":
            return self._command(val)
        raise Undecided(val)

    def _subscript(self) -> str:
        if self.peek() != ("op", "_"):
            return ""
        self.take()
        tok = self.take()
        if tok == ("op", "{"):
            parts = []
            while (t := self.take()) != ("op", "}"):
                parts.append(t[1])
                if len(parts) > 8:
                    raise Undecided("subscript")
            return "_" + "".join(parts)
        return "_" + tok[1]

    def _command(self, name: str):
        if name == "pi":
            return lambda e: complex(math.pi)
        if name in _GREEK:
            var = "\\" + name + self._subscript()
            self.names.add(var)
            return lambda e: e[var]
        if name in ("frac", "dfrac", "tfrac"):
            num, den = self._group(), self._group()
            return lambda e: num(e) / den(e)
        if name == "sqrt":
            index = None
            if self.peek() == ("op", "["):
                self.take()
                index = self.expr()
                self.take("]")
            arg = self._group()
            if index is None:
                return lambda e: cmath.sqrt(arg(e))
            return lambda e: _pow(arg(e), 1 / index(e))
        if name in _FUNCS:
            fn = _FUNCS[name]
            base = None
            if name == "log" and self.peek() == ("op", "_"):
                self.take()
                base = self._script()
            power = None
            if self.peek() == ("op", "^"):
                self.take()
                power = self._script()
            arg = self._function_argument()
            if name == "log" and base is not None:
                inner = (lambda a, b: lambda e: cmath.log(a(e)) / cmath.log(b(e)))(arg, base)
            elif name == "log":
                raise Undecided("log without a base: 10 or e")
            else:
                inner = (lambda f, a: lambda e: f(a(e)))(fn, arg)
            if power is not None:
                return (lambda a, p: lambda e: _pow(a(e), p(e)))(inner, power)
            return inner
        raise Undecided(f"\\{name}")

    def _group(self):
        if self.peek() == ("op", "{"):
            self.take()
            node = self.expr()
            self.take("}")
            return node
        tok = self.take()  # \frac12: single-token arguments
        if tok[0] == "num" and len(tok[1]) == 1:
            number = complex(float(tok[1]))
            return lambda e: number
        if tok[0] == "var":
            self.i -= 1
            return self.atom()
        raise Undecided("group")

    def _function_argument(self):
        tok = self.peek()
        if tok in (("op", "("), ("op", "{")):
            return self.power()
        node = self.power()  # \sin 2x: implicit product of plain atoms
        while (tok := self.peek()) is not None and tok[0] in ("num", "var"):
            rhs = self.power()
            node = (lambda a, b: lambda e: a(e) * b(e))(node, rhs)
        return node


def _pow(a: complex, b: complex) -> complex:
    if abs(b) > 1000 or (abs(a) > 1 and abs(b) * math.log(abs(a)) > 700):
        raise Undecided("overflow")
    if a == 0 and b.real <= 0:
        raise Undecided("0 to a non-positive power")
    if b.imag == 0 and b.real == int(b.real) and a.imag == 0:
        return complex(a.real ** int(b.real)) if a.real != 0 or b.real > 0 else complex(0)
    if a.imag == 0 and a.real > 0 and b.imag == 0:
        return complex(a.real ** b.real)
    return a ** b


@lru_cache(maxsize=8192)
def compile_expr(s: str):
    """(evaluator, variable names) for a normalized LaTeX expression; raises :class:`Undecided`."""
    if "=" in s or "!" in s or "\\infty" in s or "," in s or "|" in s:
        raise Undecided("not a plain expression")
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    p = _Parser(_tokens(s))
    node = p.expr()
    if p.peek() is not None:
        raise Undecided("trailing tokens")
    return node, frozenset(p.names)


def numeric_equal(gold: str, pred: str) -> bool | None:
    """False when sampling shows a clear difference, else None (never True: see the module doc)."""
    try:
        fg, vg = compile_expr(gold)
        fp, vp = compile_expr(pred)
    except (Undecided, RecursionError):
        return None
    names = sorted(vg | vp)
    if len(names) > 8:
        return None
    differ = 0
    for k in range(len(_SAMPLES)):
        env = {n: complex(_SAMPLES[(k + j) % 3] + 0.173 * j) for j, n in enumerate(names)}
        try:
            a, b = fg(env), fp(env)
        except (Undecided, ZeroDivisionError, OverflowError, ValueError, KeyError):
            return None
        if not (cmath.isfinite(a) and cmath.isfinite(b)):
            return None
        scale = max(1.0, abs(a), abs(b))
        gap = abs(a - b) / scale
        if gap > 1e-6:
            differ += 1
    if differ == len(_SAMPLES):
        return False
    return None  # agreement in floating point proves nothing: the exact or symbolic tier decides
