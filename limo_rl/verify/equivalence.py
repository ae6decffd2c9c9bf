"""Is a predicted answer equivalent to the gold one? Structure first, then values; never a guess.

:func:`compare` walks the two answers' structures (:mod:`.structure`: tuples ordered with
their brackets, sets unordered, assignments by name, matrices by position, a hedge of several
alternatives wrong for a single-valued gold) and hands each pair of atoms to an atom
comparator. Two comparators exist:

* in-process, :func:`fast_atom`: identical spellings, exact numbers (``Fraction``, integers of
  any length, repeating decimals, percentages, scientific notation), exact Gaussian-rational
  arithmetic (:mod:`.exact`: ``(1+i)^2``, ``2^{10}``, ``|3+4i|``), text answers ignoring case,
  and quick refusals (a clear numeric gap at sample points, a number against a word). It says
  "equal" only with a proof and returns ``None`` ("not proven") otherwise;
* in a killable worker, the same fast checks and then :func:`limo_rl.verify.symbolic.symbolic_atom`
  (math-verify's LaTeX parser, sympy, and an exact-difference test).

:func:`fast_equal` is the in-process tier: True/False when decided, None when the worker must
decide (it then runs :func:`compare` with the symbolic comparator, see :mod:`._worker`).

Golds that are themselves approximate (answer type ``approx``) compare numbers by rounding
(:func:`limo_rl.verify.normalize.approx_equal`); nowhere else is a tolerance an "equal".

Pure core: standard library only; every step bounded. Nothing here evaluates text as code.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from limo_rl.verify.answers import HEDGE_SEP, choice_letter, choice_letters
from limo_rl.verify.arith import NotEvaluable, evaluate, variables
from limo_rl.verify.exact import exact_value
from limo_rl.verify.normalize import (
    MAX_LEN,
    Num,
    approx_equal,
    normalize,
    numbers_equal,
    parse_number,
    squash,
)
from limo_rl.verify.numeric import numeric_equal
from limo_rl.verify.structure import (
    MAX_ITEMS,
    Shape,
    assignment,
    inequality_interval,
    is_relation,
    set_difference,
    shape,
    split_top,
)

AtomFn = Callable[[str, str, str], "bool | None"]
INCONSISTENT = "\x00inconsistent"  # a boxed computation whose own sides disagree (2^5 = 31)
# what may stand left of "=" in a boxed answer whose value is its final side: a named quantity, never an unknown
# with a coefficient ("2x = 10" states x = 5, not 10)
_NAME = re.compile(
    r"(?:m\s*)?\\(?:angle|measuredangle|overline|overarc|widehat|arc)\b[^=<>]*"  # m\angle PQR, \overline{AB}
    r"|[A-Z]{2,4}|\|[A-Z]{2,4}\|"  # AB, |AB|: a segment
    r"|\\?[A-Za-z]{1,3}(?:_\{?\w+\}?)?\s*\([^()=]*\)"  # f(3), P(A), \Pr(A)
    r"|[A-Za-z](?:_\{?\w+\}?)?|[A-Z][a-z]{2,}(?:\s+[a-z]+)*"  # n, a_{10}, S_5; Area, Total cost
)
_WORD = re.compile(r"[A-Za-z][A-Za-z' -]*[A-Za-z]")


def _number(s: str) -> Num | None:
    n = parse_number(s)
    if n is not None:
        return n
    z = exact_value(s)
    if z is not None and z[1] == 0:
        return Num(z[0])
    return None


def fast_atom(gold: str, pred: str, answer_type: str = "auto") -> bool | None:
    """Two normalized single values: True only with a proof, False on a clear difference, else None."""
    if squash(gold) == squash(pred):
        return True
    if _WORD.fullmatch(gold) and _WORD.fullmatch(pred) and len(gold) > 1 and len(pred) > 1:
        if gold.lower() == pred.lower():
            return True  # text answers: case does not matter ("Even" is "even")
        if max(len(gold), len(pred)) >= 4 or " " in gold + pred:
            return False  # different words
        return None  # "xy" vs "yx": maybe a product of variables
    gn, pn = _number(gold), _number(pred)
    if gn is not None and pn is not None:
        return approx_equal(gn, pn) if answer_type == "approx" else numbers_equal(gn, pn)
    gz, pz = exact_value(gold), exact_value(pred)
    if gz is not None and pz is not None:
        return gz == pz  # complex values: equal real and imaginary parts
    if gn is not None:
        sp = squash(pred)
        if answer_type == "number" and re.fullmatch(r"[\d\s.,+-]*", pred):
            return False
        if re.fullmatch(r"[+-]?\d+(?:\.\d+)?[A-Za-z]", sp):
            return False  # 3m is 3 times m (math-verify strips a trailing m as metres)
        if re.fullmatch(r"[A-Za-z]+", pred) and pred.lower() not in ("pi", "e", "i"):
            return False  # a bare word against a number
    if _same_terms(gold, pred):
        return True
    if numeric_equal(gold, pred) is False:
        return False
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
    """``3n+1`` vs ``1+3n``: the same summands in another order (a proof: addition commutes)."""
    gt, pt = _terms(g), _terms(p)
    return gt is not None and pt is not None and sorted(gt) == sorted(pt)


def _all3(results: list[bool | None]) -> bool | None:
    if any(r is False for r in results):
        return False
    return True if all(r is True for r in results) else None


def _ordered(gi: tuple, pi: tuple, atom: AtomFn, atype: str, depth: int) -> bool | None:
    if len(gi) != len(pi):
        return False
    return _all3([_compare(a, b, atom, atype, depth + 1) for a, b in zip(gi, pi, strict=True)])


def _unordered(gi: tuple, pi: tuple, atom: AtomFn, atype: str, depth: int) -> bool | None:
    """A one-to-one matching of equal items; None when an undecided pair could still complete it."""
    if len(gi) != len(pi):
        return False
    remaining = list(pi)
    undecided = False
    for g in gi:
        hit = None
        for j, p in enumerate(remaining):
            r = _compare(g, p, atom, atype, depth + 1)
            if r is True:
                hit = j
                break
            undecided |= r is None
        if hit is None:
            return None if undecided else False
        remaining.pop(hit)
    return True


def final_side(s: str) -> str | None:
    """The value a boxed computation or named equation states: the final side of ``2^5 = 32`` or
    ``m\\angle PQR = 45``; :data:`INCONSISTENT` when its numeric sides disagree; None when another side is
    not a computation or a name (``2x = 10``, ``x + y = 5``)."""
    sides = [p.strip() for p in split_top(s, "=")]
    if len(sides) < 2 or not all(sides) or any(is_relation(p) for p in sides):
        return None
    values = []
    for p in sides[:-1]:
        if _NAME.fullmatch(p):
            continue
        try:
            if variables(p):
                return None
            values.append(evaluate(p))
        except (NotEvaluable, ZeroDivisionError, ValueError, OverflowError):
            return None
    last = parse_number(sides[-1])
    if last is not None:
        values.append(last.value)
    elif values:
        return None  # a computation must come out as a number
    if len(set(values)) > 1:
        return INCONSISTENT
    return sides[-1]


def _relation_atom(g: str, p: str, atom: AtomFn, atype: str, graw: str, praw: str) -> bool | None:
    """Atoms where an equation or inequality may be involved."""
    ga, pa = assignment(graw), assignment(praw)
    if ga and pa:
        if ga[0] != pa[0]:
            return False  # x = 1 is not y = 1
        return atom(normalize(ga[1]), normalize(pa[1]), atype)
    g_rel, p_rel = is_relation(graw), is_relation(praw)
    if g_rel and p_rel:
        gl, _, gr = graw.partition("=")
        pl, _, pr = praw.partition("=")
        if graw.count("=") == 1 and praw.count("=") == 1 and not is_relation(gl + "@" + gr):
            if squash(gl) == squash(pl):
                r = atom(normalize(gr), normalize(pr), atype)
                if r is not None:
                    return r  # the same left side: the equations agree iff the right sides do
            if squash(gr) == squash(pr):
                r = atom(normalize(gl), normalize(pl), atype)
                if r is not None:
                    return r
        return atom(graw, praw, atype)  # the symbolic tier compares relations as relations
    if g_rel != p_rel:
        if (g_rel and ga) or (p_rel and pa):
            return atom(g, p, atype)  # "x = 5" against "5": the stripped forms
        if p_rel and (value := final_side(praw)) is not None:
            return False if value == INCONSISTENT else atom(g, normalize(value), atype)  # \boxed{2^5 = 32}
        return False  # an equation against a value
    return atom(g, p, atype)


def _compare(gold: str, pred: str, atom: AtomFn, atype: str, depth: int = 0) -> bool | None:
    if depth > 6:
        return None
    graw, praw = normalize(gold, strip_assignment=False), normalize(pred, strip_assignment=False)
    g, p = normalize(gold), normalize(pred)
    if squash(g) == squash(p) and squash(graw) == squash(praw):
        return True
    ga, pa = assignment(graw), assignment(praw)
    if ga and pa and ga[0] != pa[0]:
        return False  # a = 2 is not b = 2
    if ("$" in g or "$" in p) and depth == 0:  # prose with inline math: compare piece by piece
        gs, ps = g.split("$"), p.split("$")
        if len(gs) != len(ps):
            return False
        return _all3([_compare(a, b, atom, atype, depth + 1) if a.strip() or b.strip() else True
                      for a, b in zip(gs, ps, strict=True)])
    if (gn := parse_number(g)) is not None and (pn := parse_number(p)) is not None:
        return approx_equal(gn, pn) if atype == "approx" else numbers_equal(gn, pn)  # 1,000 is one number
    if "setminus" in g + p or "backslash" in g + p:  # [0,5] \setminus \{2\}: the union it is
        g, p = set_difference(g) or g, set_difference(p) or p
    gsh, psh = shape(g), shape(p)
    if {gsh.kind, psh.kind} in ({"seq", "atom"}, {"union", "atom"}):  # x >= 3 against [3, \infty)
        gi, pi_ = (inequality_interval(g) if gsh.kind == "atom" else None,
                   inequality_interval(p) if psh.kind == "atom" else None)
        if gi or pi_:
            return _compare(gi or g, pi_ or p, atom, atype, depth + 1)
    if len(gsh.items) > MAX_ITEMS or len(psh.items) > MAX_ITEMS:
        return None
    gk, pk = gsh.kind, psh.kind
    if pk in ("set", "list") and len(psh.items) == 1:  # {5} or a lone item: the value itself
        psh, pk = Shape("atom", psh.items), "atom"
    if gk in ("set", "list") and len(gsh.items) == 1:
        gsh, gk = Shape("atom", gsh.items), "atom"
    if gk == "atom" and pk == "atom":
        return _relation_atom(g, p, atom, atype, graw, praw)
    if gk == "atom":
        if pk in ("list", "set", "union", "assign") and len(psh.items) >= 2:
            # several alternatives for one value: a hedge. Right only if every alternative is the gold.
            return _all3([_compare(gold, item, atom, atype, depth + 1) for item in psh.items])
        if pk in ("seq", "matrix"):
            return False if parse_number(g) is not None else None
        return None
    if pk == "atom":
        if gk == "matrix" or gk == "seq" or len(gsh.items) >= 2:
            return False if (_number(p) is not None or gk != "matrix") else None
        return None
    if gk == "matrix" or pk == "matrix":
        return _matrices(gsh, psh, atom, atype, depth)
    if gk == "assign" or pk == "assign":
        if gk == "assign" and pk == "assign":
            if sorted(gsh.names) != sorted(psh.names) or len(set(gsh.names)) != len(gsh.names):
                return False
            by_name = dict(zip(psh.names, psh.items, strict=True))
            return _all3([_compare(v, by_name[n], atom, atype, depth + 1)
                          for n, v in zip(gsh.names, gsh.items, strict=True)])
        return _ordered(gsh.items, psh.items, atom, atype, depth)  # names against a tuple: written order
    if {gk, pk} == {"set", "seq"}:
        return False  # a set is not a tuple or an interval
    if gk == "union" or pk == "union":
        if gk != pk:
            return False
        return _unordered(gsh.items, psh.items, atom, atype, depth)
    if gk == "seq" and pk == "seq":
        if gsh.brackets != psh.brackets:
            return False  # (a,b) vs [a,b): open and closed ends differ
        return _ordered(gsh.items, psh.items, atom, atype, depth)
    if "seq" in (gk, pk):  # a bare list against a tuple: ordered
        return _ordered(gsh.items, psh.items, atom, atype, depth)
    return _unordered(gsh.items, psh.items, atom, atype, depth)  # set/list against set/list


def _matrices(gsh: Shape, psh: Shape, atom: AtomFn, atype: str, depth: int) -> bool | None:
    def rows(sh: Shape) -> tuple[tuple[str, ...], ...] | None:
        if sh.kind == "matrix":
            return sh.items
        if sh.kind in ("seq", "list"):  # a vector written as a tuple: one column
            return tuple((i,) for i in sh.items)
        return None

    gr, pr = rows(gsh), rows(psh)
    if gr is None or pr is None:
        return False
    if gsh.kind != psh.kind:  # a vector against a matrix: compare as a flat vector when one side is 1-wide
        flat_g = [c for r in gr for c in r] if min(len(gr), len(gr[0])) == 1 else None
        flat_p = [c for r in pr for c in r] if min(len(pr), len(pr[0])) == 1 else None
        if flat_g is None or flat_p is None:
            return False
        return _ordered(tuple(flat_g), tuple(flat_p), atom, atype, depth)
    if len(gr) != len(pr) or any(len(a) != len(b) for a, b in zip(gr, pr, strict=True)):
        return False  # another shape (a transpose of a non-square matrix included)
    return _ordered(tuple(c for r in gr for c in r), tuple(c for r in pr for c in r), atom, atype, depth)


def compare(gold: str, pred: str, atom: AtomFn, answer_type: str = "auto") -> bool | None:
    """Equivalence of ``pred`` to ``gold`` with ``atom`` deciding single values (see the module doc)."""
    if answer_type == "choice" or (answer_type == "auto" and re.fullmatch(r"\s*\(?[A-J]\)?\s*", gold)):
        gl = choice_letter(gold)
        if gl is not None:
            letters = set().union(*(choice_letters(x) for x in pred.split(HEDGE_SEP)))
            if None not in letters:
                return letters == {gl}  # several letters offered: a hedge, wrong
            if answer_type == "choice":
                return False
    return _compare(gold, pred, atom, answer_type)


def fast_equal(gold: str, pred: str | None, answer_type: str = "auto") -> bool | None:
    """The in-process tier: True/False when decided with bounded exact work, None for the symbolic tier."""
    if pred is None:
        return False
    gold, pred = str(gold), str(pred)
    if len(gold) > MAX_LEN or len(pred) > MAX_LEN:
        return None
    return compare(gold, pred, fast_atom, answer_type)


__all__ = ["compare", "fast_atom", "fast_equal", "shape", "split_top"]
