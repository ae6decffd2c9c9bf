"""The symbolic tier: math-verify's LaTeX parser, sympy, and an exact-difference test. Worker processes only.

math-verify (Kydlíček et al., HuggingFace 2025) parses LaTeX with its own grammar (never
``eval``/``sympify``/``parse_expr`` on the text; only its LaTeX extraction is used, because its
plain-expression extractor calls sympy's ``parse_expr``, which evaluates Python). Its ``verify``
rounds floats (``0.3333`` may pass for ``1/3``, ``1.2e-9`` for ``1.2e-10``), so values are not
judged by it: after parsing, decimals become the exact rationals they write, the symbol ``i``
becomes the imaginary unit, and two values are equal when they agree to 30 significant digits
(each evaluated to 40; at two random rational points when variables remain): far beyond any
rounding a model writes, so a rounded decimal or an exponent off by one never passes. Rational
values (``2^{5000}+1``, ``9^{9^{9}}``) are compared exactly instead, however long that takes:
the worker's timeout bounds it, and a timeout is never "equal". Equations are equal when one is a constant multiple of the other (the same line,
``y = 2x+1`` and ``2x - y + 1 = 0``); inequalities, sets and intervals that reach this tier
whole are left to math-verify's own comparison.

Structure (tuples, sets, assignments, matrices, hedges) is handled before this tier by
:func:`limo_rl.verify.equivalence.compare`; only single values reach :func:`symbolic_atom`.
Everything here can hang or exhaust memory on hostile input (``9^{9^{9}}``), so it runs only
inside the killable workers of :mod:`limo_rl.verify.sandbox`, with math-verify's
``signal.alarm`` timeouts disabled.
"""

from __future__ import annotations

import logging
import random
from functools import lru_cache

from limo_rl.verify.equivalence import compare, fast_atom

DIGITS = 40
REL_ZERO = 1e-30
PROBE_MAX_CHARS = 1000  # a failed parse of a longer value is reported as "error" (a size limit), not "wrong"


def quiet_math_verify() -> None:
    """Silence math-verify's 'timeout disabled' warning: we bound time ourselves, in the worker pool."""
    import math_verify.grader as grader_mod
    import math_verify.parser as parser_mod

    parser_mod.TIMEOUT_WARNING_SHOWN = True
    grader_mod.TIMEOUT_WARNING_SHOWN = True
    logging.getLogger("math_verify").setLevel(logging.ERROR)


@lru_cache(maxsize=4096)
def _parse(latex: str) -> tuple:
    from math_verify import LatexExtractionConfig, parse

    return tuple(parse("$" + latex + "$", extraction_config=[LatexExtractionConfig()], parsing_timeout=None))


def _exact(expr):
    """Decimals -> the rationals they write; the symbol i -> the imaginary unit."""
    import sympy

    floats = {f: sympy.Rational(str(f)) for f in expr.atoms(sympy.Float)}
    expr = expr.xreplace(floats) if floats else expr
    i_sym = [s for s in expr.free_symbols if s.name == "i"]
    return expr.xreplace({i_sym[0]: sympy.I}) if i_sym else expr


def _evaluate(x):
    """x to DIGITS significant digits as a complex mpmath value; parts sympy could only bound (evalf gives
    "0.e-122": no significant digit left at its maximum precision) are 0; None if not a finite number."""
    import mpmath
    import sympy

    v = x.evalf(DIGITS)
    parts = []
    for part in v.as_real_imag():
        if part == 0:
            parts.append(mpmath.mpf(0))
            continue
        if not isinstance(part, sympy.Float):
            return None
        parts.append(mpmath.mpf(0) if part._prec < 20 else part._to_mpmath(part._prec))
    z = mpmath.mpc(parts[0], parts[1])
    return z if mpmath.isfinite(z) else None


def _close(a, b) -> bool | None:
    """Do the values of ``a`` and ``b`` agree to far more digits than any rounding (see the module doc)?"""
    import mpmath

    try:
        with mpmath.workdps(DIGITS + 10):
            av, bv = _evaluate(a), _evaluate(b)
            if av is None or bv is None:
                return None
            return bool(abs(av - bv) <= REL_ZERO * max(abs(av), abs(bv)))
    except (TypeError, ValueError, AttributeError, ZeroDivisionError, OverflowError):
        return None


def values_equal(a, b) -> bool:
    """Exact-difference test of two sympy expressions (see the module doc)."""
    import sympy

    a, b = _exact(a), _exact(b)
    if a == b or a - b == 0:
        return True
    free = sorted(a.free_symbols | b.free_symbols, key=lambda s: s.name)
    if not free:
        close = _close(a, b)
        if close and a.is_rational and b.is_rational:  # agreeing digits prove nothing for 10^40 vs 10^40+1
            return bool(a.doit() == b.doit())  # exact (slow for towers: the worker's timeout bounds it)
        return bool(close)
    rng = random.Random(20260521)
    decided = 0
    for _ in range(5):
        point = {s: sympy.Rational(rng.randint(-997, 997), rng.randint(1, 211)) for s in free}
        got = _close(a.xreplace(point), b.xreplace(point))
        if got is False:
            return False
        decided += got is True
        if decided == 2:
            return True
    return False


def _same_equation(a, b) -> bool:
    """``L1 = R1`` and ``L2 = R2`` are one relation when ``L1 - R1`` is a nonzero constant multiple of ``L2 - R2``:
    their ratio takes one finite nonzero value at three random rational points."""
    import sympy

    da, db = _exact(a.lhs - a.rhs), _exact(b.lhs - b.rhs)
    if da == 0 or db == 0:
        return da == db
    free = sorted(da.free_symbols | db.free_symbols, key=lambda s: s.name)
    rng = random.Random(20260522)
    ratios = []
    for _ in range(6):
        point = {s: sympy.Rational(rng.randint(-997, 997), rng.randint(1, 211)) for s in free}
        va, vb = da.xreplace(point), db.xreplace(point)
        if _close(vb, sympy.Integer(0)) is not False or _close(va, sympy.Integer(0)) is not False:
            continue  # a root of either side: no information about the ratio here
        ratios.append(va / vb)
        if len(ratios) == 3:
            return all(_close(r, ratios[0]) is True for r in ratios[1:])
    return False


class TooLargeToParse(RuntimeError):
    """A value beyond the parser's reach (its recursion depth, e.g. ``1+1+...+1`` with thousands of terms): the
    worker answers ``error`` for it, never ``False``: a limit of ours is not a wrong answer."""


def _parse_checked(latex: str) -> tuple:
    """:func:`_parse`, raising :class:`TooLargeToParse` when the parse failed on size rather than content
    (math-verify swallows its parser's RecursionError and keeps the bare string)."""
    import sympy

    parsed = _parse(latex)
    if any(isinstance(x, sympy.Basic) for x in parsed):
        return parsed
    too_large = TooLargeToParse(f"a {len(latex)}-character value the parser could not take (its depth)")
    if len(latex) > PROBE_MAX_CHARS:  # probing again would double the time of a slow failure: say error
        raise too_large
    from math_verify.parser import parse_latex_cached

    try:
        parse_latex_cached(latex)
    except RecursionError:
        raise too_large from None
    except Exception:  # noqa: BLE001 - unparseable content: not a value, compared as before
        pass
    return parsed


def symbolic_value_equal(gold: str, pred: str) -> bool:
    """Two single LaTeX values, parsed by math-verify and compared exactly (see the module doc)."""
    import sympy
    from math_verify import verify

    g, p = _parse_checked(gold), _parse_checked(pred)
    if not g or not p:
        return False
    ge, pe = g[0], p[0]
    if isinstance(ge, sympy.Eq) and isinstance(pe, sympy.Eq):
        return _same_equation(ge, pe)
    if isinstance(ge, sympy.core.relational.Relational) or isinstance(pe, sympy.core.relational.Relational):
        if type(ge) is not type(pe) and not {type(ge), type(pe)} <= {sympy.StrictLessThan, sympy.StrictGreaterThan,
                                                                      sympy.LessThan, sympy.GreaterThan}:
            return False
        return bool(verify(list(g), list(p), timeout_seconds=None))
    if isinstance(ge, sympy.Expr) and isinstance(pe, sympy.Expr):
        return values_equal(ge, pe)
    if isinstance(ge, sympy.Basic) and isinstance(pe, sympy.Basic):
        return bool(verify(list(g), list(p), timeout_seconds=None))  # sets, intervals: math-verify's rules
    return False


def symbolic_atom(gold: str, pred: str, answer_type: str = "auto") -> bool:
    fast = fast_atom(gold, pred, answer_type)
    if fast is not None:
        return fast
    return symbolic_value_equal(gold, pred)


def symbolic_equal(gold: str, pred: str, answer_type: str = "auto") -> bool:
    """Structure-aware equivalence with math-verify deciding single values. Run in a worker process."""
    return compare(gold, pred, symbolic_atom, answer_type) is True


def math_verify_equal(gold: str, output: str) -> bool:
    """Plain math-verify semantics (``verify.mode: math_verify``): its own extraction from the whole output
    and its own comparison, for figures comparable with lighteval and open-r1. LaTeX extraction only:
    the plain-expression extractor would hand model text to ``parse_expr``."""
    from math_verify import LatexExtractionConfig, parse, verify

    g = parse("$" + gold + "$", extraction_config=[LatexExtractionConfig()], parsing_timeout=None)
    p = parse(output, extraction_config=[LatexExtractionConfig()], parsing_timeout=None)
    if not g or not p:
        return False
    return bool(verify(g, p, timeout_seconds=None))
