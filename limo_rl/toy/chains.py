"""Reasoning chains for the toy problems, written in several styles of known quality.

Why several styles: the LIMO question is which chains are worth training on, so the world
needs chains that differ in exactly the properties selection looks at. Each chain is
generated from the problem's numbers, never from a model, so its quality is known:

* ``terse``: the bare result, no steps (hard for a tiny model to imitate correctly);
* ``steps``: the column-by-column procedure (carries, borrows, isolating x, the gcd);
* ``verified``: steps plus a real check (substituting x back, recomputing a sum the other
  way, multiplying a fraction back out) whose arithmetic holds;
* ``hollow``: steps plus a check that computes nothing ("Let me verify. It looks right.");
* ``slip``: steps with one planted arithmetic slip, so the boxed answer is wrong, closed by
  a hollow check (false confidence);
* ``caught``: the same slip, then a real check that fails, "Let me redo it.", and the
  correct steps: verification that matters.

Every step of the work is an equality (``2+8+1=11``, ``13=4*3+1``, ``84/2=42``), so
:func:`equalities` and :func:`process_consistent` tell right work from wrong work whatever
the final answer: in world 2 a chain with a false step rarely lands on the right answer.

The answer is always in ``\\boxed{}``. :func:`verification_steps` finds the checks in any
text (model output included) and says which ones hold, using a small integer-arithmetic
reader, never ``eval`` or sympy on untrusted text.

Pure core: standard library only.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping

from limo_rl.types import LIMO_SYSTEM_PROMPT, Problem, SFTExample, chat_messages

STYLES = ("terse", "steps", "verified", "hollow", "slip", "caught")
# The bootstrap corpus: mixed quality, so the teacher lands at a middling accuracy.
CORPUS_MIX: Mapping[str, float] = {
    "terse": 0.10, "steps": 0.30, "verified": 0.15, "hollow": 0.15, "slip": 0.15, "caught": 0.15,
}
GOLD_MIX: Mapping[str, float] = {"verified": 0.75, "caught": 0.25}
HOLLOW_LINES = ("Let me verify. The answer looks right.", "Let me check. Yes, this is correct.")

_Q_BINOP = re.compile(r"What is (\d+) ([+\-*]) (\d+)\?")
_Q_LINEAR = re.compile(r"Solve for x: (\d+)x \+ (\d+) = (\d+)\.")
_Q_FRAC = re.compile(r"Simplify the fraction \\frac\{(\d+)\}\{(\d+)\}\.")


def parse_question(question: str) -> dict:
    """The kind and numbers of a toy question; ValueError for text that is not one."""
    if m := _Q_BINOP.fullmatch(question.strip()):
        a, op, b = int(m[1]), m[2], int(m[3])
        return {"kind": {"+": "add", "-": "sub", "*": "mul"}[op], "a": a, "b": b}
    if m := _Q_LINEAR.fullmatch(question.strip()):
        return {"kind": "linear", "a": int(m[1]), "b": int(m[2]), "c": int(m[3])}
    if m := _Q_FRAC.fullmatch(question.strip()):
        return {"kind": "fraction", "p": int(m[1]), "q": int(m[2])}
    raise ValueError(f"not a toy question: {question[:80]!r}")


# ---------------------------------------------------------------------------------------- procedures
def _add_steps(a: int, b: int, slip_col: int | None) -> tuple[list[str], int]:
    da, db = str(a)[::-1], str(b)[::-1]
    lines, carry, out = [], 0, []
    for i in range(max(len(da), len(db))):
        x = int(da[i]) if i < len(da) else 0
        y = int(db[i]) if i < len(db) else 0
        s = x + y + carry
        if slip_col == i:
            s = s + 1 if s % 10 != 9 else s - 1
        lines.append(f"{x}+{y}+{carry}={s}, write {s % 10}, carry {s // 10}.")
        out.append(s % 10)
        carry = s // 10
    if carry:
        out.append(carry)
    return lines, int("".join(map(str, reversed(out))))


def _sub_steps(a: int, b: int, slip_col: int | None) -> tuple[list[str], int]:
    da, db = str(a)[::-1], str(b)[::-1]
    lines, borrow, out = [], 0, []
    for i in range(len(da)):
        x, y = int(da[i]), (int(db[i]) if i < len(db) else 0)
        top = x - borrow
        if top < y:
            r, nb = top + 10 - y, 1
            line = f"{x}-{borrow}<{y}, borrow: {top + 10}-{y}="
        else:
            r, nb = top - y, 0
            line = f"{x}-{borrow}-{y}="
        if slip_col == i:
            r = r + 1 if r != 9 else r - 1
        lines.append(f"{line}{r}, borrow {nb}.")
        out.append(r)
        borrow = nb
    return lines, int("".join(map(str, reversed(out))))


def _mul_steps(a: int, b: int, slip_col: int | None) -> tuple[list[str], int]:
    da = str(a)[::-1]
    lines, carry, out = [], 0, []
    for i, ch in enumerate(da):
        s = int(ch) * b + carry
        if slip_col == i:
            s += 1
        lines.append(f"{ch}*{b}+{carry}={s}, write {s % 10}, carry {s // 10}.")
        out.append(str(s % 10))
        carry = s // 10
    if carry:
        out.append(str(carry)[::-1])
    return lines, int("".join(reversed(out)))


def _divide_steps(value: int, a: int, slip: bool) -> tuple[list[str], int]:
    """Short division of ``value`` by the digit ``a``, left to right: one ``cur=a*q+r.`` line per digit.
    The slip writes the last quotient digit one too big (a false equality), so the quotient is one too big."""
    lines, rem, digits = [], 0, []
    text = str(value)
    for i, ch in enumerate(text):
        cur = rem * 10 + int(ch)
        q, rem = divmod(cur, a)
        if slip and i == len(text) - 1:
            q += 1
        lines.append(f"{cur}={a}*{q}+{rem}.")
        digits.append(q)
    return lines, int("".join(map(str, digits)))


def _linear_steps(a: int, b: int, c: int, slip: bool) -> tuple[list[str], str]:
    """Subtract b column by column, then divide by a digit by digit: every step a local, checkable equality."""
    sub_lines, rhs = _sub_steps(c, b, None)
    div_lines, x = _divide_steps(rhs, a, slip)
    return [f"Subtract {b}: {a}x={c}-{b}.", *sub_lines, f"So {a}x={rhs}.",
            f"Divide {rhs} by {a}:", *div_lines, f"So x={x}."], str(x)


def _prime_factors(k: int) -> list[int]:
    out, f = [], 2
    while k > 1:
        while k % f == 0:
            out.append(f)
            k //= f
        f += 1
    return out


def _fraction_steps(p: int, q: int, slip: bool) -> tuple[list[str], str]:
    """Divide numerator and denominator by their common prime factors, smallest first. The slip stops one
    division early, so the fraction is not in lowest terms (no false equality, a wrong answer)."""
    factors = _prime_factors(math.gcd(p, q))
    if slip and factors:
        factors = factors[:-1]
    lines = []
    for f in factors:
        lines.append(f"Divide by {f}: {p}/{f}={p // f}, {q}/{f}={q // f}.")
        p, q = p // f, q // f
    lines.append(f"So the fraction is {p}/{q}.")
    return lines, f"\\frac{{{p}}}{{{q}}}"


def _solve(spec: dict, slip: bool, rng: random.Random) -> tuple[list[str], str]:
    kind = spec["kind"]
    if kind in ("add", "sub", "mul"):
        a, b = spec["a"], spec["b"]
        col = rng.randrange(len(str(a))) if slip else None
        fn = {"add": _add_steps, "sub": _sub_steps, "mul": _mul_steps}[kind]
        lines, value = fn(a, b, col)
        op = {"add": "+", "sub": "-", "mul": "*"}[kind]
        return ["Column by column from the right:", *lines, f"So {a}{op}{b}={value}."], str(value)
    if kind == "linear":
        lines, x = _linear_steps(spec["a"], spec["b"], spec["c"], slip)
        return lines, x
    return _fraction_steps(spec["p"], spec["q"], slip)


def _check(spec: dict, answer: str) -> tuple[str, bool]:
    """A real check of ``answer``: the text and whether it passes."""
    kind = spec["kind"]
    if kind == "add":
        v = int(answer)
        return f"Check: {v}-{spec['b']}={v - spec['b']}.", v - spec["b"] == spec["a"]
    if kind == "sub":
        v = int(answer)
        return f"Check: {v}+{spec['b']}={v + spec['b']}.", v + spec["b"] == spec["a"]
    if kind == "mul":
        v = int(answer)
        other = spec["b"] * spec["a"]  # recompute the product the other way round
        return f"Check: {spec['b']}*{spec['a']}={other}.", v == other
    if kind == "linear":
        x = int(answer)
        lhs = spec["a"] * x + spec["b"]
        return f"Check: {spec['a']}*{x}+{spec['b']}={lhs}.", lhs == spec["c"]
    m, n = map(int, re.findall(r"\d+", answer))
    k = spec["p"] // m if m and spec["p"] % m == 0 else 0
    ok = k > 0 and m * k == spec["p"] and n * k == spec["q"] and math.gcd(m, n) == 1
    return f"Check: {m}*{k}={m * k}, {n}*{k}={n * k}, gcd({m},{n})={math.gcd(m, n)}.", ok


def _mismatch_note(ok: bool) -> str:
    return "It matches." if ok else "It does not match. Let me redo it."


def write_chain(problem: Problem | str, style: str, seed: int = 0) -> tuple[str, str]:
    """A chain for ``problem`` in ``style``: (text, the boxed answer it ends with)."""
    if style not in STYLES:
        raise ValueError(f"unknown chain style {style!r}; known: {', '.join(STYLES)}")
    question = problem if isinstance(problem, str) else problem.question
    spec = parse_question(question)
    rng = random.Random(f"{seed}/{style}/{question}")
    right_lines, right = _solve(spec, False, rng)
    if style == "terse":
        body, answer = [], right
    elif style == "steps":
        body, answer = right_lines, right
    elif style == "verified":
        check, _ = _check(spec, right)
        body, answer = [*right_lines, check, _mismatch_note(True)], right
    elif style == "hollow":
        body, answer = [*right_lines, rng.choice(HOLLOW_LINES)], right
    else:
        wrong_lines, wrong = _solve(spec, True, rng)
        if wrong == right:  # the slip happened to cancel out: write it as a plain correct chain
            wrong_lines = right_lines
        if style == "slip":
            body, answer = [*wrong_lines, rng.choice(HOLLOW_LINES)], wrong
        else:
            check, ok = _check(spec, wrong)
            if ok:
                body, answer = [*wrong_lines, check, "It matches."], wrong
            else:
                check2, _ = _check(spec, right)
                body = [*wrong_lines, check, _mismatch_note(False), *right_lines, check2, "It matches."]
                answer = right
    text = "\n".join([*body, f"The answer is \\boxed{{{answer}}}."])
    return text, answer


def sample_style(rng: random.Random, mix: Mapping[str, float]) -> str:
    styles = list(mix)
    return rng.choices(styles, weights=[mix[s] for s in styles], k=1)[0]


def corpus_examples(problems: list[Problem], seed: int = 0, mix: Mapping[str, float] = CORPUS_MIX,
                    system_prompt: str | None = LIMO_SYSTEM_PROMPT, source: str = "toy_corpus") -> list[SFTExample]:
    """One chain per problem, style drawn from ``mix``: training conversations with the LIMO prompt."""
    rng = random.Random(f"limo-toy-corpus/{seed}")
    out = []
    for p in problems:
        style = sample_style(rng, mix)
        text, _ = write_chain(p, style, seed)
        out.append(SFTExample(
            id=f"{source}/{p.id}", messages=(*chat_messages(p.question, system_prompt),
                                             {"role": "assistant", "content": text}),
            problem_id=p.id, source=source, chain_ref=f"toy:{style}",
        ))
    return out


# ---------------------------------------------------------------------------------------- reading chains back
_CHECK_LINE = re.compile(r"Check: ([^\n]*)")
_EQUATION = re.compile(r"([0-9][0-9 +\-*/]*?)\s*=\s*(\d+)")
_HOLLOW = re.compile(r"Let me (?:verify|check)\.[^\n]*")


def _int_arith(expr: str) -> int | None:
    """Value of an expression of non-negative integers with + - * and exact /; None if malformed."""
    tokens = re.findall(r"\d+|[+\-*/]", expr)
    if not tokens or "".join(tokens) != re.sub(r"\s+", "", expr) or len(tokens) > 41:
        return None
    terms: list[int] = []
    sign, cur, op = 1, None, None
    for tok in tokens:
        if tok.isdigit():
            if len(tok) > 12:
                return None
            v = int(tok)
            if cur is None:
                cur = v
            elif op == "*":
                cur *= v
            elif op == "/":
                if v == 0 or cur % v:
                    return None
                cur //= v
            else:
                return None
            op = None
        elif tok in "*/":
            if cur is None or op is not None:
                return None
            op = tok
        else:
            if cur is None or op is not None:
                return None
            terms.append(sign * cur)
            sign, cur = (1 if tok == "+" else -1), None
    if cur is None or op is not None:
        return None
    return sum(terms) + sign * cur


def verification_steps(text: str) -> dict[str, int]:
    """Count the checks in a chain: ``real`` (a ``Check:`` whose equations all hold),
    ``failed`` (a ``Check:`` with an equation that does not hold), ``hollow`` (a check that computes nothing)."""
    real = failed = 0
    for m in _CHECK_LINE.finditer(text):
        eqs = _EQUATION.findall(m[1])
        values = [(_int_arith(lhs), int(rhs)) for lhs, rhs in eqs]
        if eqs and all(v is not None and v == r for v, r in values):
            real += 1
        else:
            failed += 1
    return {"real": real, "failed": failed, "hollow": len(_HOLLOW.findall(text))}


_ARITH_RUN = re.compile(r"(?<![\w)+\-*/])(\d[\d+\-*/]*(?:=\d[\d+\-*/]*)+)")
REDO = "Let me redo it."


def equalities(text: str) -> dict[str, int]:
    """Count the arithmetic equalities a chain writes (``2+8+1=11``, ``13=4*3+1``, ``84/2=42``): ``true`` when
    every side has the same integer value, ``false`` otherwise (a wrong value, or an inexact division).

    Why: a toy answer is right or wrong, and so is every step of the work that leads to it; a correct final
    answer reached through a false step is the failure mode a process-consistency filter removes."""
    true = false = 0
    for m in _ARITH_RUN.finditer(re.sub(r"[ \t]*([=+\-*/])[ \t]*", r"\1", text)):
        values = [_int_arith(side) for side in m[1].split("=")]
        if None not in values and len(set(values)) == 1:
            true += 1
        else:
            false += 1
    return {"true": true, "false": false}


def process_consistent(text: str) -> bool:
    """True when the chain's final attempt (after its last "Let me redo it.") writes no false equality.

    A mistake that a real check caught and redid is fine (that is verification that matters); a false step
    in the work the answer rests on is not."""
    final = text.rsplit(REDO, 1)[-1]
    return equalities(final)["false"] == 0


_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")


def boxed_answer(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (one level of nested braces), or None."""
    found = _BOXED.findall(text)
    return found[-1].strip() if found else None


def toy_correct(text: str, gold: str) -> bool:
    """The toy world's grader: golds are canonical, so the boxed answer must equal the gold exactly."""
    got = boxed_answer(text)
    return got is not None and got.replace(" ", "") == gold.replace(" ", "")


GOLD_SEED_OFFSET = 7_919


def gold_examples(n: int = 817, seed: int = 0, difficulty: int = 2,
                  system_prompt: str | None = LIMO_SYSTEM_PROMPT) -> list[SFTExample]:
    """The toy analogue of LIMO's static 817: generator-written chains with real verification
    (:data:`GOLD_MIX`), on training-side problems drawn from their own seed stream."""
    from limo_rl.toy.problems import make_problems

    problems = make_problems(n, seed=seed + GOLD_SEED_OFFSET, difficulty=difficulty)
    return corpus_examples(problems, seed=seed, mix=GOLD_MIX, system_prompt=system_prompt, source="static")
