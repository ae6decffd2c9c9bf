"""Process consistency judged on the final attempt: which false steps a chain caught and redid.

A chain that writes ``4+6+0=11``, checks its sum (``119-60=59``: "It does not match. Let me
redo it."), and redoes the column as ``4+6+0=10`` shows the verification LIMO's "rigorous
verification" describes; rejecting it for its false first step throws away exactly the chains
where checking mattered. So a false numeric equality (one that arithmetic consistency counts
as false) is

* ``caught`` when all three follow it: a **check that finds it** (a counted verification step
  after it and before the correction, or the correction itself written beside the
  acknowledgement, as in "wait, 7*8 = 56, not 54"), an **acknowledgement** of the error
  (:data:`_ACK`: "does not match", "mistake", "let me redo", "not 54" ...), and a **corrected
  step**: a later equality that holds and redoes the same computation (the same first side,
  ``4+6+0``, or an operation side with the same numbers in the same shape);
* ``uncaught`` otherwise: a false step the chain never found, or found and never redid.

``caught`` counts catches (one acknowledgement that catches a slip and its consequences, such
as a wrong column and the wrong total it made, counts once); ``uncaught`` counts false steps.
:func:`limo_rl.select.strategies.process_consistent` keeps a chain when ``uncaught`` is 0, which is
the toy world's rule (:func:`limo_rl.toy.chains.process_consistent`: no false equality after the
last "Let me redo it.") stated for any chain.

Pure core: standard library only; linear in the computations times the later true ones (bounded
by the equation limits of :mod:`.density`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from limo_rl.verify.arith import numbers, shape

# an error found: a mismatch, a named mistake, a redo, or "not <the wrong value>"
_ACK = re.compile(
    r"\bdo(?:es)?(?:n't|\s+not)\s+(?:match|agree|check\s+out|work|hold|add\s+up)|\bnot\s+equal|\bmismatch"
    r"|\bmistake|\berror\b|\bwrong\b|\bincorrect|\bre-?do\b|\bmiscalculat|\bmiscount|\bslip\b|\boops\b"
    r"|\bnot\s+right\b|\bshould\s+(?:be|have\s+been)\b|\bcontradict|\bnot\s+-?\$?\d|≠|\\neq?\b",
    re.I)
NEAR = 160  # characters between an acknowledgement and a correction written beside it
Computation = tuple[int, int, tuple[str, ...], bool]  # (start, end, sides, holds): a numeric equality


@dataclass(frozen=True)
class ProcessReport:
    caught: int = 0  # catches: false steps found by a check and redone
    uncaught: int = 0  # false steps never caught and redone


def _op_side(sides: tuple[str, ...]) -> str | None:
    return next((s for s in sides if re.search(r"[-+*/^]|\\times|\\cdot|\\frac", s.lstrip("-"))), None)


def _same_computation(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if re.sub(r"\s+", "", a[0]) == re.sub(r"\s+", "", b[0]):
        return True
    oa, ob = _op_side(a), _op_side(b)
    return oa is not None and ob is not None and Counter(numbers(oa)) == Counter(numbers(ob)) \
        and shape(oa) == shape(ob)


def judge(text: str, computations: list[Computation], checks: list[tuple[int, int]]) -> ProcessReport:
    """Caught and uncaught false steps among ``computations`` (text order); ``checks`` are the spans of the
    chain's counted verification steps."""
    comps = sorted(computations)
    caught_at: set[int] = set()
    uncaught = 0
    for i, (_fs, fe, f_sides, holds) in enumerate(comps):
        if holds:
            continue
        ack_at = None
        for cs, ce, c_sides, c_holds in comps[i + 1:]:
            if not c_holds or cs < fe or not _same_computation(f_sides, c_sides):
                continue
            ack = _ACK.search(text, fe, min(len(text), ce + NEAR))
            if ack is None:
                continue
            found_by_check = any(fe <= s < cs for s, _ in checks)
            beside = ack.start() >= cs - NEAR  # "wait, 7*8 = 56, not 54": the redo is the check
            if found_by_check or beside:
                ack_at = ack.start()
                break
        if ack_at is None:
            uncaught += 1
        else:
            caught_at.add(ack_at)
    return ProcessReport(caught=len(caught_at), uncaught=uncaught)
