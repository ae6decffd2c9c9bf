"""Generated (gold, prediction) pairs whose labels are known by construction, for the differential test.

Equal families write one value in another correct spelling (metamorphic forms: separators,
fractions and their LaTeX variants, decimals, repeating decimals, scientific notation,
reordered sets and assignments, re-spaced matrices, complex arithmetic, text case, empty-set
spellings, wrapped choice letters, equivalent equations and radicals). Near-miss families
change the value a little (off-by-one big integers, an exponent +-1, a rounded decimal for an
exact fraction, a hedge, swapped assignments, a transpose, a sign flip, a conjugate, a set
for a tuple, a bracket). The prediction is put in a short chain ending in a box (or two
boxes, for a hedge), so extraction is part of what is compared.

Used by tests/unit/test_verify_differential.py and benchmarks/bench_verify.py (--families).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction

Pair = tuple[str, str, str, bool]  # (category, gold, chain, label)
RAW = "\x00chain:"  # a family's prediction that is already a whole chain (answers stated in words)


def _chain(pred: str, rng: random.Random) -> str:
    lead = rng.choice(["Working through the cases carefully.", "We simplify step by step.",
                       "Combining the results above."])
    return f"{lead}\n\nTherefore the final answer is $\\boxed{{{pred}}}$."


def _sep(n: int, rng: random.Random) -> str:
    s = f"{n:,}"
    return rng.choice([s, s.replace(",", "\\,"), s.replace(",", "{,}")])


def _frac_latex(q: Fraction, rng: random.Random) -> str:
    cmd = rng.choice(["\\frac", "\\dfrac", "\\tfrac"])
    sign = "-" if q < 0 else ""
    return f"{sign}{cmd}{{{abs(q.numerator)}}}{{{q.denominator}}}"


def _rand_frac(rng: random.Random) -> Fraction:
    while True:
        q = Fraction(rng.randint(1, 97), rng.randint(2, 60))
        if q.denominator > 1:
            return q


def _non_terminating(rng: random.Random) -> Fraction:
    while True:
        q = _rand_frac(rng)
        d = q.denominator
        while d % 2 == 0:
            d //= 2
        while d % 5 == 0:
            d //= 5
        if d > 1:
            return q


def _repeating(q: Fraction) -> str | None:
    """The overline spelling of a proper fraction's decimal expansion, or None if too long."""
    whole, r = divmod(q.numerator, q.denominator)
    digits, seen = [], {}
    while r and r not in seen and len(digits) < 30:
        seen[r] = len(digits)
        r *= 10
        digits.append(str(r // q.denominator))
        r %= q.denominator
    if not r or r not in seen:
        return None
    k = seen[r]
    return f"{whole}.{''.join(digits[:k])}\\overline{{{''.join(digits[k:])}}}"


def _matrix(rows: list[list[int]], env: str, spaced: bool) -> str:
    sep, nl = (" & ", " \\\\ ") if spaced else ("&", "\\\\")
    return f"\\begin{{{env}}}" + nl.join(sep.join(str(x) for x in r) for r in rows) + f"\\end{{{env}}}"


def _complex(a: int, b: int) -> str:
    if b == 0:
        return str(a)
    im = ("" if abs(b) == 1 else str(abs(b))) + "i"
    return f"{a}{'+' if b > 0 else '-'}{im}" if a else (("-" if b < 0 else "") + im)


# ---------------------------------------------------------------------------------------- equal forms
def eq_separators(rng):
    n = rng.randint(1000, 10**9)
    return "separators", str(n), _sep(n, rng), True


def eq_big_int(rng):
    n = rng.randint(10**15, 10**20)
    return "big_int", str(n), rng.choice([str(n), _sep(n, rng)]), True


def eq_fraction(rng):
    q = _rand_frac(rng) * rng.choice([1, -1])
    k = rng.randint(1, 4)
    pred = rng.choice([_frac_latex(q, rng), f"{q.numerator}/{q.denominator}",
                       f"\\frac{{{q.numerator * k}}}{{{q.denominator * k}}}",
                       f"\\left({_frac_latex(q, rng)}\\right)"])
    return "fraction", _frac_latex(q, rng), pred, True


def eq_decimal(rng):
    q = Fraction(rng.randint(1, 999), rng.choice([2, 4, 5, 8, 10, 16, 20, 25, 40, 125]))
    dec = f"{float(q):.10f}".rstrip("0").rstrip(".")
    return ("decimal", _frac_latex(q, rng), dec, True) if rng.random() < 0.5 else ("decimal", dec, _frac_latex(q, rng),
                                                                                   True)


def eq_repeating(rng):
    while True:
        q = _non_terminating(rng)
        q = Fraction(q.numerator % q.denominator or 1, q.denominator)
        rep = _repeating(q)
        if rep:
            return "repeating", _frac_latex(q, rng), rep, True


def eq_scientific(rng):
    m, e = rng.randint(11, 99), rng.randint(3, 12)
    value = m * 10 ** (e - 1)
    mant = f"{m // 10}.{m % 10}"
    pred = rng.choice([f"{mant}\\times10^{{{e}}}", f"{mant} \\times 10^{{{e}}}", f"{mant}e{e}", f"{mant}\\cdot 10^{{{e}}}"])
    return "scientific", str(value), pred, True


def eq_tuple(rng):
    xs = [rng.randint(-20, 20) for _ in range(rng.randint(2, 4))]
    gold = "(" + ",".join(map(str, xs)) + ")"
    return "tuple", gold, "\\left(" + ", ".join(map(str, xs)) + "\\right)", True


def eq_set(rng):
    xs = rng.sample(range(-30, 30), rng.randint(2, 5))
    ys = xs[:]
    rng.shuffle(ys)
    return "set", "\\{" + ",".join(map(str, xs)) + "\\}", "\\{" + ", ".join(map(str, ys)) + "\\}", True


def eq_interval(rng):
    a, b = sorted(rng.sample(range(-20, 20), 2))
    br = rng.choice(["()", "[]", "[)", "(]"])
    return "interval", f"{br[0]}{a},{b}{br[1]}", f"{br[0]}{a}, {b}{br[1]}", True


def eq_assignment(rng):
    x, y = rng.randint(-9, 9), rng.randint(-9, 9)
    return "assignment", f"x={x}, y={y}", rng.choice([f"y = {y}, x = {x}", f"x = {x}, y = {y}"]), True


def eq_matrix(rng):
    rows = [[rng.randint(-9, 9) for _ in range(2)] for _ in range(2)]
    return "matrix", _matrix(rows, "pmatrix", False), _matrix(rows, rng.choice(["bmatrix", "pmatrix"]), True), True


def eq_complex(rng):
    a, b = rng.randint(-5, 5), rng.randint(1, 5)
    k = rng.randint(2, 40)
    forms = [(_complex(a * a - b * b, 2 * a * b), f"({_complex(a, b)})^2"),
             (_complex(*[(1, 0), (0, 1), (-1, 0), (0, -1)][k % 4]), f"i^{{{k}}}"),
             (_complex(a, b), f"{b}i{'+' if a >= 0 else '-'}{abs(a)}")]
    gold, pred = rng.choice(forms)
    return "complex", gold, pred, True


def eq_text_case(rng):
    w = rng.choice(["even", "odd", "yes", "no", "never", "always", "east", "north"])
    return "text_case", f"\\text{{{w}}}", rng.choice([w.capitalize(), w.upper(), f"\\text{{{w.capitalize()}}}"]), True


def eq_empty(rng):
    return "empty_set", rng.choice(["\\emptyset", "\\varnothing"]), rng.choice(["\\varnothing", "\\{\\}", "\\emptyset",
                                                                                 "\\{ \\}"]), True


def eq_choice(rng):
    letter = rng.choice("ABCDE")
    return "choice", letter, rng.choice([f"\\textbf{{({letter})}} {rng.randint(1, 99)}", f"({letter})",
                                         f"\\text{{({letter})}}", f"{letter}"]), True


def eq_equation(rng):
    m, c = rng.choice([2, 3, -2, 5]), rng.randint(1, 9)
    gold = f"y={m}x+{c}"
    k = rng.choice([1, 2, -1])
    pred = f"{k * m}x{'-' if k > 0 else '+'}{abs(k)}y+{k * c}=0".replace("+-", "-")
    pred = pred.replace("1y", "y") if abs(k) == 1 else pred
    return "equation", gold, pred, True


def eq_radical(rng):
    a, b = rng.choice([2, 3, 5, 6, 7]), rng.randint(2, 6)
    return "radical", f"{b}\\sqrt{{{a}}}", f"\\sqrt{{{a * b * b}}}", True


# ---------------------------------------------------------------------------------------- near misses
def ne_big_int(rng):
    n = rng.randint(10**15, 10**20)
    return "big_int", str(n), str(n + rng.choice([1, -1])), False


def ne_exponent(rng):
    m, e = rng.randint(11, 99), rng.randint(6, 14)
    mant = f"{m // 10}.{m % 10}"
    return "tiny_exponent", f"{mant}\\times10^{{-{e}}}", f"{mant}\\times10^{{-{e + rng.choice([1, -1])}}}", False


def ne_rounded(rng):
    q = _non_terminating(rng)
    places = rng.choice([3, 4, 6])
    return "rounded_decimal", _frac_latex(q, rng), f"{round(float(q), places):.{places}f}", False


def ne_hedge(rng):
    n = rng.randint(1, 500)
    m = n + rng.randint(1, 9)
    a, b = rng.sample([n, m], 2)
    return "hedge", str(n), rng.choice([f"{a} \\text{{ or }} {b}", f"{a}}} or \\boxed{{{b}"]), False


def ne_swapped(rng):
    x, y = rng.sample(range(-9, 10), 2)
    return "assignment", f"x={x}, y={y}", f"x = {y}, y = {x}", False


def ne_transpose(rng):
    while True:
        rows = [[rng.randint(-9, 9) for _ in range(2)] for _ in range(2)]
        if rows[0][1] != rows[1][0]:
            break
    tr = [[rows[0][0], rows[1][0]], [rows[0][1], rows[1][1]]]
    return "matrix", _matrix(rows, "pmatrix", False), _matrix(tr, "pmatrix", True), False


def ne_sign(rng):
    q = _rand_frac(rng)
    return "sign_flip", _frac_latex(q, rng), _frac_latex(-q, rng), False


def ne_off_by_one(rng):
    n = rng.randint(1, 999)
    return "off_by_one", str(n), str(n + rng.choice([1, -1])), False


def ne_conjugate(rng):
    a, b = rng.randint(-5, 5), rng.randint(1, 5)
    return "complex", _complex(a, b), _complex(a, -b), False


def ne_set_tuple(rng):
    a, b = rng.sample(range(-9, 10), 2)
    return rng.choice([("set", f"\\{{{a},{b}\\}}", f"({a},{b})", False),
                       ("interval", f"[{min(a, b)},{max(a, b)})", f"[{min(a, b)},{max(a, b)}]", False)])


def ne_radical(rng):
    a, b = rng.choice([2, 3, 5, 6, 7]), rng.randint(2, 6)
    return "radical", f"{b}\\sqrt{{{a}}}", f"\\sqrt{{{a * b * b + rng.choice([1, -1])}}}", False


def ne_equation(rng):
    m, c = rng.choice([2, 3, 5]), rng.randint(1, 9)
    return "equation", f"y={m}x+{c}", f"{m}x-y-{c}=0", False


def ne_choice(rng):
    letter, other = rng.sample("ABCDE", 2)
    return "choice", letter, f"\\textbf{{({other})}} {rng.randint(1, 99)}", False


# ---------------------------------------------------------------------------------------- answers in words (issue 26)
_NOUNS = ["ways", "handshakes", "students", "marbles", "residents", "tickets", "paths", "squares"]


def _lead(rng, mention: int | None = None) -> str:
    a, b = rng.randint(2, 60), rng.randint(2, 60)
    first = f"First we count the pairs: there are {a} of them, and {b} more with repeats."
    if mention is not None:
        first += f" Before removing duplicates we had {mention} {rng.choice(_NOUNS)}."
    return first + "\n\n" + rng.choice(["Now we combine the cases.", "Adding the two counts gives the total."])


def _raw(text: str) -> str:
    return RAW + text


def eq_stated(rng):
    n = rng.randint(2, 10**7)
    noun = rng.choice(_NOUNS)
    close = rng.choice([
        f"So there are {n} {noun} in total.", f"Hence the total is {_sep(n, rng).replace(chr(92) + ',', ',')}.",
        f"The town then has {n:,} residents.", f"Therefore, altogether {n} {noun} remain.",
        f"Thus we get ${n}$ {noun}.", f"In total, {n:,} {noun} were sold.",
        f"So {n - 1} + 1 = {n} {noun}.", f"So there are {n} {noun} in total. I hope this helps.",
    ])
    if rng.random() < 0.15:
        word = rng.choice(["diverges", "converges", "even", "odd", "isosceles"])
        subject = {"diverges": "the series", "converges": "the series", "even": "the function is",
                   "odd": "the function is", "isosceles": "the triangle is"}[word]
        return "stated", f"\\text{{{word}}}", _raw(_lead(rng) + f"\n\nHence {subject} {word}."), True
    return "stated", str(n), _raw(_lead(rng) + "\n\n" + close), True


def ne_stated(rng):
    n = rng.randint(10, 10**6)
    other = n + rng.choice([-2, -1, 1, 2, 10])
    noun = rng.choice(_NOUNS)
    kind = rng.random()
    if kind < 0.55:  # the gold is an intermediate value; the closing statement says another
        close = rng.choice([f"So there are {other} {noun} in total.", f"Hence the total is {other:,}.",
                            f"Then {n} - {n - other} = {other} {noun} remain."])
        return "stated", str(n), _raw(_lead(rng, mention=n) + "\n\n" + close), False
    if kind < 0.75:  # the closing sentence denies the gold
        return "stated", str(n), _raw(_lead(rng) + f"\n\nHence there cannot be {n} {noun}."), False
    if kind < 0.9:  # the closing sentence only asks
        return "stated", str(n), _raw(_lead(rng) + f"\n\nSo is the total {n}?"), False
    word = rng.choice(["diverges", "converges"])
    base = word[:-1]
    return "stated", f"\\text{{{word}}}", _raw(_lead(rng) + f"\n\nHence the series does not {base}."), False


def ne_hedge_prose(rng):
    if rng.random() < 0.5:
        a, b = rng.sample("ABCDE", 2)
        close = rng.choice([f"Hence it is either {a} or {b}.", f"So the answer is {a} or {b}.",
                            f"Thus the correct option is either ({a}) or ({b})."])
        return "hedge_prose", a, _raw(_lead(rng) + "\n\n" + close), False
    n = rng.randint(2, 500)
    m = n + rng.randint(1, 9)
    a, b = rng.sample([n, m], 2)
    close = rng.choice([f"So there are either {a} or {b} {rng.choice(_NOUNS)}.", f"Hence $x = {a}$ or $x = {b}$.",
                        f"Therefore the total is {a} or {b}."])
    return "hedge_prose", str(n), _raw(_lead(rng) + "\n\n" + close), False


def eq_choice_prose(rng):
    letter = rng.choice("ABCDE")
    close = rng.choice([f"So the correct option is {letter}.", f"Hence the answer is ({letter}).",
                        f"Therefore choice {letter} is right."])
    return "hedge_prose", letter, _raw(_lead(rng) + "\n\n" + close), True


def _named(rng, value: int) -> str:
    return rng.choice([f"m\\angle PQR = {value}^\\circ", f"\\angle ABC = {value}^{{\\circ}}", f"AB = {value}",
                       f"f({rng.randint(1, 9)}) = {value}", f"a_{{{rng.randint(2, 20)}}} = {value}",
                       f"\\overline{{CD}} = {value}", f"P(A) = {value}"])


def eq_boxed_equation(rng):
    if rng.random() < 0.5:
        b, e = rng.randint(2, 9), rng.randint(2, 6)
        comp = rng.choice([f"{b}^{e} = {b ** e}", f"{b}^{{{e}}}={b ** e}", f"{b} \\cdot {e} = {b * e}",
                           f"{b} \\times {e} + 1 = {b * e + 1}"])
        return "boxed_equation", str(int(comp.rsplit("=", 1)[1])), comp, True
    v = rng.randint(1, 179)
    return "boxed_equation", str(v), _named(rng, v), True


def ne_boxed_equation(rng):
    b, e = rng.randint(2, 9), rng.randint(2, 6)
    kind = rng.random()
    if kind < 0.4:  # the gold is an operand of the computation, not its value
        return "boxed_equation", str(b), f"{b}^{{{e}}} = {b ** e}", False
    if kind < 0.7:
        return "boxed_equation", str(b ** e + rng.choice([1, -1])), f"{b}^{e} = {b ** e}", False
    v = rng.randint(1, 179)
    return "boxed_equation", str(180 - v if v != 90 else 91), _named(rng, v), False


_REAL_SPELLINGS = ["\\mathbb{R}", "(-\\infty, \\infty)", "(-\\infty,+\\infty)", "\\text{all real numbers}",
                   "x \\in \\mathbb{R}", "\\text{All real numbers}", "\\mathbb R"]


def eq_real_line(rng):
    return ("real_line", rng.choice(["\\mathbb{R}", "(-\\infty,\\infty)", "\\text{all real numbers}"]),
            rng.choice(_REAL_SPELLINGS), True)


def ne_real_line(rng):
    c = rng.randint(-9, 9)
    return ("real_line", rng.choice(["\\mathbb{R}", "(-\\infty,\\infty)"]),
            rng.choice([f"(-\\infty, {c}) \\cup ({c}, \\infty)", f"[{c}, \\infty)", f"\\mathbb{{R}} \\setminus \\{{{c}\\}}",
                        "\\mathbb{R}^2", f"(-\\infty, {c}]", "(0, \\infty)"]), False)


def _interval_minus(rng):
    a = rng.randint(-20, 10)
    b = a + rng.randint(3, 20)
    c = rng.randint(a + 1, b - 1)
    return a, b, c


def eq_set_difference(rng):
    a, b, c = _interval_minus(rng)
    if rng.random() < 0.3:
        diff, union = f"\\mathbb{{R}} \\setminus \\{{{c}\\}}", f"(-\\infty,{c})\\cup({c},\\infty)"
    else:
        diff, union = f"[{a}, {b}] \\setminus \\{{{c}\\}}", f"[{a},{c})\\cup({c},{b}]"
    gold, pred = rng.sample([diff, union], 2)
    return "set_difference", gold, pred, True


def ne_set_difference(rng):
    a, b, c = _interval_minus(rng)
    d = c + 1 if c + 1 < b else c - 1
    union = f"[{a},{c})\\cup({c},{b}]"
    pred = rng.choice([f"[{a}, {b}] \\setminus \\{{{d}\\}}", f"[{a}, {b}]", f"({a}, {b}) \\setminus \\{{{c}\\}}",
                       f"[{a},{c}]\\cup({c},{b}]"])
    return "set_difference", union, pred, False


_UNITS = [("min", 60), ("mins", 60), ("\\text{ min}", 60), ("sec", 1), ("secs", 1), ("\\text{ sec}", 1),
          ("hrs", 3600), ("\\text{ hrs}", 3600), ("hr", 3600)]


def eq_unit_abbrev(rng):
    n = rng.randint(1, 500)
    unit, _ = rng.choice(_UNITS)
    sep = "" if unit.startswith("\\text") else rng.choice([" ", "\\ ", "~"])
    return "unit_abbrev", rng.choice([str(n), f"{n}\\text{{ minutes}}" if "min" in unit else str(n)]), f"{n}{sep}{unit}", True


def ne_unit_abbrev(rng):
    n = rng.randint(2, 500)
    unit, secs = rng.choice(_UNITS)
    sep = "" if unit.startswith("\\text") else " "
    if rng.random() < 0.5 and secs > 1:
        return "unit_abbrev", str(n * secs // (60 if secs == 3600 else 1)), f"{n}{sep}{unit}", False  # not converted
    return "unit_abbrev", str(n), f"{n + rng.choice([1, -1])}{sep}{unit}", False


FAMILIES: list[Callable[[random.Random], tuple[str, str, str, bool]]] = [
    eq_separators, eq_big_int, eq_fraction, eq_decimal, eq_repeating, eq_scientific, eq_tuple, eq_set, eq_interval,
    eq_assignment, eq_matrix, eq_complex, eq_text_case, eq_empty, eq_choice, eq_equation, eq_radical,
    ne_big_int, ne_exponent, ne_rounded, ne_hedge, ne_swapped, ne_transpose, ne_sign, ne_off_by_one, ne_conjugate,
    ne_set_tuple, ne_radical, ne_equation, ne_choice,
    eq_stated, ne_stated, ne_hedge_prose, eq_choice_prose, eq_boxed_equation, ne_boxed_equation, eq_real_line,
    ne_real_line, eq_set_difference, ne_set_difference, eq_unit_abbrev, ne_unit_abbrev,
]


def generate(n_per_family: int, seed: int = 0) -> list[Pair]:
    """``n_per_family`` pairs from every family: (category, gold, chain ending in the prediction, label)."""
    rng = random.Random(seed)
    out = []
    for fam in FAMILIES:
        for _ in range(n_per_family):
            cat, gold, pred, label = fam(rng)
            out.append((cat, gold, pred[len(RAW):] if pred.startswith(RAW) else _chain(pred, rng), label))
    return out


