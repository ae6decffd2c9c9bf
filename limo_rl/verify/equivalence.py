"""Is a predicted answer equivalent to the gold one? A fast exact path, then math-verify.

Two tiers. :func:`fast_equal` decides the common cases in-process with bounded work:
identical spellings, numbers (integers with separators, decimals, fractions, percentages,
scientific notation, mixed numbers), choice letters, and the *structure* of compound
answers: tuples and intervals are ordered and their brackets matter (``[1,2)`` is not
``[1,2]``), sets and bare lists of solutions are unordered, and a set is never a tuple
(math-verify 0.9 equates ``\\{3,8\\}`` and ``(3,8)``). It returns ``None`` when it cannot
decide; then :func:`symbolic_equal` calls math-verify (Kydlíček et al., HuggingFace 2025),
which parses LaTeX with its own grammar (never ``eval``/``sympify`` on the text) and
compares with sympy. That tier can hang or blow up memory on hostile input (``9^{9^{9}}``),
so it runs only inside the killable workers of :mod:`limo_rl.verify.sandbox`, with
math-verify's ``signal.alarm`` timeouts disabled.

Only LaTeX extraction is used: math-verify's plain-expression extractor calls sympy's
``parse_expr``, which evaluates Python, so model text never reaches it.

Pure core: the fast tier uses the standard library; math-verify is imported lazily.
"""

from __future__ import annotations

import re
from functools import lru_cache

from limo_rl.verify.answers import choice_letter
from limo_rl.verify.normalize import MAX_LEN, normalize, numbers_equal, parse_number, squash
from limo_rl.verify.numeric import numeric_equal

_SET_OPEN, _SET_CLOSE = "\\{", "\\}"
MAX_ITEMS = 64


def split_top(s: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside any bracket: ``(1,2),(3,4)`` -> two items."""
    out, depth, cur = [], 0, []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            depth += 1 if s[i + 1] == "{" else -1
            cur.append(s[i: i + 2])
            i += 2
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur).strip())
    return out


def _wrapped(s: str, left: str, right: str) -> bool:
    if not (s.startswith(left) and s.endswith(right)):
        return False
    depth = 0
    body = s[len(left): len(s) - len(right)]
    for ch in body:  # the outer brackets must enclose everything
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth < 0:
            return False
    return True


def structure(s: str) -> tuple[str, list[str], str]:
    """Classify a normalized answer: ("set"|"seq"|"list"|"atom", items, brackets)."""
    if s.startswith(_SET_OPEN) and s.endswith(_SET_CLOSE) and "\\mid" not in s and "|" not in s:
        body = s[2:-2]
        return "set", [i for i in split_top(body) if i], "{}"
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]":
        inner = s[1:-1]
        if _wrapped(s, s[0], s[-1]) and len(items := split_top(inner)) >= 2:
            return "seq", items, s[0] + s[-1]
    if "\\begin{pmatrix}" in s or "\\begin{bmatrix}" in s:
        return "atom", [s], ""
    items = split_top(s)
    if len(items) >= 2 and all(items):
        return "list", items, ""
    parts = re.split(r"\s*(?:\\text\{\s*or\s*\}|\\text\{\s*and\s*\}|\\quad|\bor\b|\band\b)\s*", s)
    if len(parts) >= 2 and all(p.strip() for p in parts):
        return "list", [p.strip() for p in parts], ""
    return "atom", [s], ""


def _atom_equal(gold: str, pred: str, answer_type: str) -> bool | None:
    g, p = normalize(gold), normalize(pred)
    if squash(g) == squash(p):
        return True
    gn, pn = parse_number(g), parse_number(p)
    if gn is not None and pn is not None:
        return numbers_equal(gn, pn)
    if answer_type == "number" and gn is not None and pn is None and re.fullmatch(r"[\d\s.,+-]*", p):
        return False
    if gn is not None and re.fullmatch(r"[+-]?\d+(?:\.\d+)?[A-Za-z]", squash(p)):
        return False  # 3m is 3 times m (math-verify strips a trailing m as metres)
    if gn is not None and re.fullmatch(r"[A-Za-z]+", p) and p.lower() not in ("pi", "e", "i"):
        return False  # a bare word against a number
    if g.count("=") == 1 and p.count("=") == 1:
        return _equations(g, p)
    return numeric_equal(g, p)


def _equations(g: str, p: str) -> bool | None:
    """``L = R1`` vs ``L = R2`` with the same side ``L``: the equations agree iff the other sides do."""
    gl, gr = (x.strip() for x in g.split("="))
    pl, pr = (x.strip() for x in p.split("="))
    if squash(gl) == squash(pl):
        return numeric_equal(gr, pr)
    if squash(gr) == squash(pr):
        return numeric_equal(gl, pl)
    return None


def _terms(s: str) -> list[str] | None:
    """Signed top-level summands of an expression (``a-b+c`` -> +a, -b, +c), or None if there is one."""
    s = squash(s)
    out, depth, cur, sign = [], 0, [], "+"
    for i, ch in enumerate(s):
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        if ch in "+-" and depth == 0 and i > 0 and s[i - 1] not in "^_{(,=eE":
            out.append(sign + "".join(cur))
            cur, sign = [], ch
        elif ch in "+-" and i == 0:
            sign = ch
        else:
            cur.append(ch)
    out.append(sign + "".join(cur))
    return out if len(out) >= 2 and "=" not in s and "," not in s and "\\" not in s else None


def _same_terms(g: str, p: str) -> bool:
    """``3n+1`` vs ``1+3n``: the same summands in another order (never used to say unequal)."""
    gt, pt = _terms(g), _terms(p)
    return gt is not None and pt is not None and sorted(gt) == sorted(pt)


def _unordered(gold: list[str], pred: list[str], answer_type: str) -> bool | None:
    if len(gold) != len(pred):
        return False
    remaining = list(pred)
    undecided = False
    for g in gold:
        hit = None
        for j, p in enumerate(remaining):
            r = fast_equal(g, p, answer_type, _depth=1)
            if r is True:
                hit = j
                break
            if r is None:
                undecided = True
        if hit is None:
            return None if undecided else False
        remaining.pop(hit)
    return True


def fast_equal(gold: str, pred: str, answer_type: str = "auto", _depth: int = 0) -> bool | None:
    """True/False when decided cheaply, None when the symbolic tier must decide. Bounded work, no eval."""
    if pred is None:
        return False
    gold, pred = str(gold), str(pred)
    if len(gold) > MAX_LEN or len(pred) > MAX_LEN:
        return None
    if answer_type == "choice" or (answer_type == "auto" and _depth == 0 and re.fullmatch(r"\(?[A-J]\)?", gold.strip())):
        gl, pl = choice_letter(gold), choice_letter(pred)
        if gl is not None:
            return gl == pl if pl is not None else (False if answer_type == "choice" else None)
    g, p = normalize(gold), normalize(pred)
    if squash(g) == squash(p):
        return True
    if ("$" in g or "$" in p) and _depth < 2:  # prose with inline math: compare piece by piece
        gs, ps = g.split("$"), p.split("$")
        if len(gs) != len(ps):
            return False
        parts = [fast_equal(a, b, answer_type, _depth + 1) if a.strip() or b.strip() else True
                 for a, b in zip(gs, ps, strict=True)]
        return False if False in parts else (True if all(parts) else None)
    gn, pn = parse_number(g), parse_number(p)
    if gn is not None and pn is not None:  # before splitting at commas: 1,000 is a number
        return numbers_equal(gn, pn)
    if _depth > 3:
        return None
    if _same_terms(g, p):
        return True
    gk, gi, gb = structure(g)
    pk, pi_, pb = structure(p)
    if len(gi) > MAX_ITEMS or len(pi_) > MAX_ITEMS:
        return None
    if gk == "atom" and pk == "atom":
        return _atom_equal(g, p, answer_type)
    if gk == "atom" or pk == "atom":
        if gk == "atom" and pk == "list" and re.search(r"\\pm|\\mp", g):
            return None
        if gk == "atom" and parse_number(g) is not None and pk in ("list", "set") and len(pi_) > 1:
            return False  # one number against several
        if pk == "atom" and parse_number(p) is not None and gk in ("list", "set", "seq") and len(gi) > 1:
            return False
        return None
    if {gk, pk} == {"set", "seq"}:
        return False  # a set is not a tuple or an interval
    if gk == "seq" and pk == "seq":
        if gb != pb:
            return False  # (a,b) vs [a,b): open and closed ends differ
        if len(gi) != len(pi_):
            return False
        results = [fast_equal(a, b, answer_type, _depth + 1) for a, b in zip(gi, pi_, strict=True)]
        if any(r is False for r in results):
            return False
        return True if all(results) else None
    if "seq" in (gk, pk):  # a bare list against a tuple: ordered
        if len(gi) != len(pi_):
            return False
        results = [fast_equal(a, b, answer_type, _depth + 1) for a, b in zip(gi, pi_, strict=True)]
        if any(r is False for r in results):
            return None if any(r is None for r in results) else False
        return True if all(results) else None
    return _unordered(gi, pi_, answer_type)  # set/list against set/list


# ---------------------------------------------------------------------------------------- symbolic tier
def _latex_for_math_verify(s: str) -> str:
    s = normalize(s)
    return "$" + s + "$"


@lru_cache(maxsize=4096)
def _parse_gold(gold: str):
    from math_verify import LatexExtractionConfig, parse

    return parse(_latex_for_math_verify(gold), extraction_config=[LatexExtractionConfig()], parsing_timeout=None)


def symbolic_equal(gold: str, pred: str) -> bool:
    """math-verify's ``parse`` + ``verify`` on LaTeX only, its signal timeouts off. Run in a worker process.

    Answers with inline ``$...$`` math among prose are compared piece by piece (math-verify
    would otherwise pick one formula out of each and ignore the rest).
    """
    g_norm, p_norm = normalize(gold), normalize(pred)
    if "$" in g_norm or "$" in p_norm:
        gs, ps = g_norm.split("$"), p_norm.split("$")
        if len(gs) != len(ps):
            return False
        return all(squash(a) == squash(b) or (i % 2 == 1 and _symbolic_one(a, b))
                   for i, (a, b) in enumerate(zip(gs, ps, strict=True)))
    return _symbolic_one(gold, pred)


def _symbolic_one(gold: str, pred: str) -> bool:
    from math_verify import LatexExtractionConfig, parse, verify

    g = _parse_gold(gold)
    p = parse(_latex_for_math_verify(pred), extraction_config=[LatexExtractionConfig()], parsing_timeout=None)
    if not g or not p:
        return False
    return bool(verify(g, p, timeout_seconds=None))


def quiet_math_verify() -> None:
    """Silence math-verify's 'timeout disabled' warning: we bound time ourselves, in the worker pool."""
    import logging

    import math_verify.grader as grader_mod
    import math_verify.parser as parser_mod

    parser_mod.TIMEOUT_WARNING_SHOWN = True
    grader_mod.TIMEOUT_WARNING_SHOWN = True
    logging.getLogger("math_verify").setLevel(logging.ERROR)
