"""The shape of a normalized answer: what kind of object it writes, and its parts.

Equivalence is structure first, values second: a tuple is ordered and its brackets matter
(``[1,2)`` is not ``[1,2]``), a set is unordered and never a tuple, named assignments are
matched by name (``x=1, y=2`` is not ``x=2, y=1``), matrices by position (any matrix
environment, any spacing), and a list of alternatives ("3 or 5") is a hedge when the gold has
one value. :func:`shape` classifies; :mod:`.equivalence` compares.

Kinds: ``matrix`` (rows of cells), ``union`` (intervals joined by ``\\cup``), ``set``,
``seq`` (tuple or interval, with its brackets), ``assign`` (``name = value`` items),
``list`` (bare items: ``2, -3``, ``3 or 5``), ``atom`` (one value, equation or inequality).
A ``\\pm`` in an item stands for two items (``1 \\pm \\sqrt2``).

Pure core: standard library only; bounded string work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from limo_rl.verify.normalize import EMPTY_SET, normalize, parse_number

MAX_ITEMS = 64
_MATRIX = re.compile(r"^\\begin\{(p|b|B|small|)matrix\}(.*)\\end\{\1matrix\}$", re.S)
_ARRAY = re.compile(r"^(?:\(|\[)?\s*\\begin\{array\}\{[^{}]*\}(.*)\\end\{array\}\s*(?:\)|\])?$", re.S)
_ALTERNATIVES = re.compile(r"\s*(?:\bor\b|\band\b|\\quad|\\text\{\s*(?:or|and)\s*\}|;)\s*")
_ASSIGN = re.compile(r"^([A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?|\\[a-z]+(?:_\{?[A-Za-z0-9]+\}?)?)\s*=\s*(?=\S)(.*)$", re.S)
_RELATION = re.compile(r"(?<![<>!\\])=|<|>|\\le(?:q|qslant)?\b|\\ge(?:q|qslant)?\b|\\neq?\b|\\lt\b|\\gt\b|≤|≥|≠")


@dataclass(frozen=True)
class Shape:
    kind: str
    items: tuple = ()
    brackets: str = ""
    names: tuple[str, ...] = ()  # assignment names, aligned with items


def split_top(s: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside any bracket (``\\{``/``\\}`` count as brackets): ``(1,2),(3,4)`` -> two items."""
    out, depth, cur = [], 0, []
    i = 0
    n = len(sep)
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
        if depth == 0 and s.startswith(sep, i):
            out.append("".join(cur).strip())
            cur = []
            i += n
            continue
        cur.append(ch)
        i += 1
    out.append("".join(cur).strip())
    return out


def wrapped(s: str, left: str, right: str) -> bool:
    """Do the outer ``left``/``right`` brackets enclose all of ``s``?"""
    if not (s.startswith(left) and s.endswith(right)) or len(s) < len(left) + len(right):
        return False
    depth = 0
    body = s[len(left): len(s) - len(right)]
    for ch in body:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth < 0:
            return False
    return True


def _expand_pm(items: list[str]) -> list[str]:
    out = []
    for it in items:
        if it.count("\\pm") + it.count("\\mp") == 1:
            plus = it.replace("\\pm", "+").replace("\\mp", "-")
            minus = it.replace("\\pm", "-").replace("\\mp", "+")
            out += [re.sub(r"^\+", "", plus.strip()), minus.strip()]
        else:
            out.append(it)
    return out


def assignment(s: str) -> tuple[str, str] | None:
    """(name, value) of ``name = value`` with one ``=`` and a variable name, else None."""
    m = _ASSIGN.match(s.strip())
    if not m or _RELATION.search(m.group(2)):
        return None
    return m.group(1).replace("{", "").replace("}", ""), m.group(2).strip()


def is_relation(s: str) -> bool:
    """An equation or inequality at the top level (not inside a set-builder or bracket)."""
    depth = 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and _RELATION.match(s, i):
            return True
    return False


_LT = {"<": "<", "\\lt": "<", "\\le": "<=", "\\leq": "<=", "\\leqslant": "<=", "≤": "<=",
       ">": ">", "\\gt": ">", "\\ge": ">=", "\\geq": ">=", "\\geqslant": ">=", "≥": ">="}
_OP = r"(<|>|\\l(?:e(?:q(?:slant)?)?|t)\b|\\g(?:e(?:q(?:slant)?)?|t)\b|≤|≥)"
_ONE_SIDED = re.compile(rf"^([A-Za-z])\s*{_OP}\s*([^<>=]+)$")
_ONE_SIDED_R = re.compile(rf"^([^<>=]+?)\s*{_OP}\s*([A-Za-z])$")
_TWO_SIDED = re.compile(rf"^([^<>=]+?)\s*{_OP}\s*([A-Za-z])\s*{_OP}\s*([^<>=]+)$")


def inequality_interval(s: str) -> str | None:
    """The interval an inequality in one variable describes (``x \\ge 3`` -> ``[3,\\infty)``), else None."""
    s = s.strip()
    if m := _TWO_SIDED.match(s):
        lo, op1, _, op2, hi = (g.strip() for g in m.groups())
        a, b = _LT[op1], _LT[op2]
        if a[0] == b[0] == "<":
            return ("[" if a == "<=" else "(") + f"{lo},{hi}" + ("]" if b == "<=" else ")")
        if a[0] == b[0] == ">":
            return ("[" if b == ">=" else "(") + f"{hi},{lo}" + ("]" if a == ">=" else ")")
        return None
    m = _ONE_SIDED.match(s)
    if m:
        op, bound = _LT[m.group(2)], m.group(3).strip()
    elif m := _ONE_SIDED_R.match(s):  # 3 < x is x > 3
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[_LT[m.group(2)]]
        bound = m.group(1).strip()
    else:
        return None
    if op[0] == "<":
        return f"(-\\infty,{bound}" + ("]" if op == "<=" else ")")
    return ("[" if op == ">=" else "(") + f"{bound},\\infty)"


def _matrix(s: str) -> Shape | None:
    m = _MATRIX.match(s) or _ARRAY.match(s)
    if not m:
        return None
    body = m.group(m.lastindex or 1).strip()
    rows = [r for r in re.split(r"\\\\(?:\[[^\]]*\])?", body) if r.strip() and r.strip() != "\\hline"]
    cells = tuple(tuple(c.strip() for c in r.replace("\\hline", "").split("&")) for r in rows)
    if not cells or len(cells) > MAX_ITEMS or any(len(r) > MAX_ITEMS for r in cells):
        return None
    return Shape("matrix", cells)


def shape(s: str) -> Shape:
    """Classify a normalized answer (see the module doc)."""
    s = s.strip()
    if s == EMPTY_SET:
        return Shape("set", (), "{}")
    if re.match(r"[(\[]?\s*\\begin\{", s):
        got = _matrix(s)
        if got is not None:
            return got
        return Shape("atom", (s,))
    union = split_top(s, "\\cup")
    if len(union) >= 2 and all(union):
        return Shape("union", tuple(union))
    if wrapped(s, "\\{", "\\}") and "\\mid" not in s and "|" not in s and ":" not in s:
        items = [i for i in split_top(s[2:-2]) if i]
        return Shape("set", tuple(_expand_pm(items)), "{}")
    if s.startswith("\\langle") and wrapped(s, "\\langle", "\\rangle"):
        items = split_top(s[len("\\langle"): -len("\\rangle")])
        if len(items) >= 2:
            return Shape("seq", tuple(items), "()")
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and wrapped(s, s[0], s[-1]):
        items = split_top(s[1:-1])
        if len(items) >= 2:
            return Shape("seq", tuple(items), s[0] + s[-1])
    items = split_top(s)
    if len(items) < 2:
        items = [p.strip() for p in _ALTERNATIVES.split(s)] if _ALTERNATIVES.search(s) else [s]
    items = [i for i in items if i]
    if len(items) >= 2:
        assigns = [assignment(i) for i in items]
        if all(assigns) and len({a[0] for a in assigns}) == 1:  # x = 2 or x = -3: the values of one unknown
            return Shape("list", tuple(_expand_pm([a[1] for a in assigns])))
        if all(assigns):
            return Shape("assign", tuple(a[1] for a in assigns), names=tuple(a[0] for a in assigns))
        return Shape("list", tuple(_expand_pm(items)))
    expanded = _expand_pm([s])
    if len(expanded) == 2 and not is_relation(s):
        return Shape("list", tuple(expanded))
    return Shape("atom", (s,))


_SETMINUS = re.compile(r"\\(?:setminus|smallsetminus|backslash)")
_INF = {"\\infty": 1, "+\\infty": 1, "-\\infty": -1, "∞": 1, "-∞": -1}


def _endpoint(s: str) -> tuple[int, object] | None:
    """(infinity sign or 0, exact value) of an interval end or removed point; None if not a plain number."""
    s = s.strip()
    if s.replace(" ", "") in _INF:
        return _INF[s.replace(" ", "")], 0
    n = parse_number(s)
    return (0, n.value) if n is not None else None


def set_difference(s: str) -> str | None:
    """An interval with finitely many points removed, as the union it is: ``[0,5] \\setminus \\{2\\}`` ->
    ``[0,2)\\cup(2,5]``; ``\\mathbb{R} \\setminus \\{0\\}`` -> ``(-\\infty,0)\\cup(0,\\infty)``. None for anything else
    (symbolic ends, a set of non-numbers, more than one difference)."""
    parts = _SETMINUS.split(s)
    if len(parts) != 2:
        return None
    left, right = shape(normalize(parts[0])), shape(normalize(parts[1]))
    if left.kind != "seq" or len(left.items) != 2 or right.kind != "set" or not right.items:
        return None
    ends = [_endpoint(x) for x in left.items]
    points = [(_endpoint(x), x.strip()) for x in right.items]
    if None in ends or any(p is None or p[0] for p, _ in points):
        return None
    key = lambda e: (e[0], e[1] if not e[0] else 0)  # noqa: E731 - order: -inf < numbers < +inf
    (lo, hi) = ends
    if key(lo) >= key(hi):
        return None
    pieces: list[list[str]] = [[left.brackets[0], left.items[0].strip()]]
    for (p, text) in sorted(points, key=lambda pt: pt[0][1]):
        if key(p) < key(lo) or key(p) > key(hi):
            continue  # outside: removing it changes nothing
        if key(p) == key(lo):
            pieces[0][0] = "("
        elif key(p) == key(hi):
            left = Shape(left.kind, left.items, left.brackets[0] + ")")
        elif pieces[-1][1] != text:
            pieces[-1] += [text, ")"]
            pieces.append(["(", text])
    pieces[-1] += [left.items[1].strip(), left.brackets[1]]
    if any(p[1] == p[2] for p in pieces):
        return None  # a removed point next to another: a degenerate piece, left to the general path
    return "\\cup".join(f"{a}{b},{c}{d}" for a, b, c, d in pieces)
