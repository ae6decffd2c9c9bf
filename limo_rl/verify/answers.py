"""Final-answer extraction from a whole reasoning chain, the way a careful grader reads it.

The LIMO prompt asks for the answer "within \\boxed{}", so the primary rule is the one the
MATH grader (``last_boxed_only_string``, Hendrycks et al. 2021) and Qwen2.5-Math's
evaluation use: the *last* ``\\boxed{...}`` / ``\\fbox{...}``, braces matched, nesting
allowed, with three refinements:

* only the answer region counts (:func:`answer_region`): the text after the last
  ``</think>``; a chain cut off inside its thinking (an opening ``<think>`` never closed, or
  ``finish_reason == "length"`` without a closed think block) has no answer at all;
* several *different* boxes in the final paragraph are a hedge ("\\boxed{3} or \\boxed{5}"):
  they are returned joined by :data:`HEDGE_SEP`, and equivalence judges the alternatives;
* without a box, a final "the answer is ..." / "Answer: ..." statement (Minerva's ``Final
  Answer: The final answer is X``), then a result stated in the closing sentence ("so there
  are 45 ways in total", :mod:`.statement`); optionally a choice letter (GPQA asks for a
  letter) and the last number in the text;
* choice letters offered as alternatives in words ("A or D", "either (B) or (C)") are a hedge,
  like several boxes.

A chain with no answer returns ``None`` (the grader's ``no_answer``), never an exception.
Every scan is linear in the text and bounded: braces are matched in one pass over the last
:data:`BOX_TAIL` characters, so a megabyte of repeated ``\\boxed{`` costs milliseconds.

Pure core: standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from limo_rl.verify.statement import stated_answer

DEFAULT_FALLBACKS: tuple[str, ...] = ("boxed", "final_answer", "statement")
FALLBACK_NAMES = ("boxed", "final_answer", "statement", "choice", "last_number")
MAX_ANSWER_CHARS = 10_000
_TAIL = 4000  # text-pattern fallbacks look at the end of the chain only
BOX_TAIL = 32_000  # boxes are looked for in the last BOX_TAIL characters of the answer region (bounded work)

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")
_BRACE_RE = re.compile(r"[{}]")
_BARE_TOKEN = re.compile(r"[^\s$.,{}]+")
HEDGE_SEP = " \\text{ or } "  # joins several different final boxes: a hedge
_FINAL_RE = re.compile(
    r"(?:final\s+answer\s*(?:is|:)|the\s+answer\s+is|answer\s*:|答案(?:是|为|:|：))\s*:?\s*(?:\*\*)?\s*:?\s*",
    re.I,
)
_CHOICE_RE = re.compile(
    r"(?:answer|option|choice)\s*(?:is|:)?\s*(?:\*\*)?\s*[(\[]?([A-J])[)\]]?(?![A-Za-z])"
    r"|^\s*[(\[]?([A-J])[)\]]?\s*(?:[.:)]|$)",
    re.I | re.M,
)
_LETTER_RE = re.compile(
    r"^\s*(?:\*\*|\\(?:text|textbf|mathbf|mathrm|textrm|mathtt)\s*\{\s*)?[(\[]?\s*([A-J])\s*[)\]]?\s*(?:\}|\*\*)?"
    r"\s*(?:[.:)．]|\s|$)", re.I)
_NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


def brace_matches(text: str) -> dict[int, int]:
    """Index of every unescaped ``{`` -> index of its matching ``}``, in one linear pass (unclosed ones absent)."""
    match: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE_RE.finditer(text):
        i = m.start()
        if i > 0 and text[i - 1] == "\\":
            continue  # \{ and \} are literal braces (set notation), not groups
        if m.group() == "{":
            stack.append(i)
        elif stack:
            match[stack.pop()] = i
    return match


def boxes(text: str) -> list[tuple[int, str]]:
    """(start, content) of every complete ``\\boxed{...}`` / ``\\fbox{...}`` (or ``\\boxed 5``), in text order.

    Linear in the text: braces are matched once for the whole text (a megabyte of repeated
    ``\\boxed{`` costs one pass, not one scan per occurrence).
    """
    starts = list(_BOX_RE.finditer(text))
    if not starts:
        return []
    match = brace_matches(text)
    out: list[tuple[int, str]] = []
    for m in starts:
        j = m.end()
        while j < len(text) and text[j] == " ":
            j += 1
        if j < len(text) and text[j] == "{":
            close = match.get(j)
            if close is not None and close - j <= MAX_ANSWER_CHARS:
                out.append((m.start(), text[j + 1: close].strip()))
        elif j > m.end():  # \boxed 5
            token = _BARE_TOKEN.match(text, j)
            if token:
                out.append((m.start(), token.group(0)))
    return out


def last_boxed(text: str) -> str | None:
    """Content of the last complete ``\\boxed{...}`` or ``\\fbox{...}`` (or ``\\boxed 5``), else None."""
    found = boxes(text[-BOX_TAIL:])
    return found[-1][1] if found else None


def final_boxed(text: str) -> str | None:
    """The boxed final answer; several *different* boxes in the final answer are all returned, joined by
    :data:`HEDGE_SEP`, so that a prediction offering alternatives ("\\boxed{3} or \\boxed{5}") is
    judged as the hedge it is (:mod:`.equivalence` rejects a hedge for a single-valued gold).

    The final answer is the last box and the other boxes of its paragraph (a chain that boxes a
    value, then corrects itself in a later paragraph, is judged on its last box).
    """
    text = text[-BOX_TAIL:]
    found = [(s, c) for s, c in boxes(text) if c]
    if not found:
        return None
    last_start = found[-1][0]
    para = text.rfind("\n\n", 0, last_start)
    group: list[str] = []
    for s, c in found:
        if s > para and c not in group:
            group.append(c)
    return HEDGE_SEP.join(group)


def answer_region(text: str, finish_reason: str | None = None) -> str | None:
    """The part of a chain that may hold its final answer: after the last ``</think>``; None when the
    chain was cut off inside its thinking (an opening ``<think>`` never closed, or generation stopped
    by the length limit with no closed thinking), since whatever it boxed there was not its answer."""
    close = text.rfind("</think>")
    if close != -1:
        return text[close + len("</think>"):]
    if "<think>" in text or finish_reason == "length":
        return None
    return text


def _final_answer(text: str) -> str | None:
    tail = text[-_TAIL:]
    matches = list(_FINAL_RE.finditer(tail))
    for m in reversed(matches):
        rest = tail[m.end():]
        if rest.startswith("$"):
            close = rest.find("$", 1) if not rest.startswith("$$") else rest.find("$$", 2)
            if close > 0:
                cand = rest[: close + (2 if rest.startswith("$$") else 1)]
                return cand.strip()
        line = rest.split("\n", 1)[0]
        line = re.split(r"(?<![0-9])\.(?:\s|$)|\.\s", line, maxsplit=1)[0]
        line = line.strip().strip("*").strip()
        if line:
            return line
    return None


def choice_letter(text: str) -> str | None:
    """The letter of an answer written as ``C``, ``(C)``, ``C.``, ``C. text`` or ``\\text{C}``, else None."""
    m = _LETTER_RE.match(text)
    return m.group(1).upper() if m else None


def _choice(text: str) -> str | None:
    tail = text[-_TAIL:]
    found = None
    for m in _CHOICE_RE.finditer(tail):
        found = (m.group(1) or m.group(2)).upper()
    return found


def _last_number(text: str) -> str | None:
    nums = _NUMBER_RE.findall(text[-_TAIL:])
    return nums[-1].rstrip(",") if nums else None


def _statement(text: str) -> str | None:
    values = stated_answer(text)
    return HEDGE_SEP.join(values) if values else None


_EXTRACTORS = {"boxed": final_boxed, "final_answer": _final_answer, "statement": _statement, "choice": _choice,
               "last_number": _last_number}
_ALTERNATIVE_LETTERS = re.compile(r"(?<![\w\\])\(?([A-J])\)?(?![\w'])")


def choice_letters(part: str) -> set[str | None]:
    """The choice letters an answer names: one, or several offered as alternatives ("A or D", "either B or C")."""
    if re.search(r"\b(?:or|either)\b|/", part, re.I):
        found = set(_ALTERNATIVE_LETTERS.findall(part))
        if len(found) >= 2:
            return set(found)
    return {choice_letter(part)}


def extract_answer(
    text: str, fallbacks: Sequence[str] = DEFAULT_FALLBACKS, answer_type: str = "auto",
    finish_reason: str | None = None,
) -> str | None:
    """The final answer of a chain, trying ``fallbacks`` in order; a choice letter for ``answer_type="choice"``.

    Only the answer region is searched (:func:`answer_region`): a chain truncated inside its
    thinking has no answer. Returns None when nothing is found (an empty box counts as nothing).
    """
    if not isinstance(text, str) or not text:
        return None
    region = answer_region(text, finish_reason)
    if region is None:
        return None
    order = list(fallbacks)
    if answer_type == "choice" and "choice" not in order:
        order.append("choice")
    for name in order:
        fn = _EXTRACTORS.get(name)
        if fn is None:
            raise ValueError(f"unknown answer fallback {name!r}; known: {', '.join(FALLBACK_NAMES)}")
        got = fn(region)
        if got is not None and got.strip():
            got = got.strip()
            if answer_type == "choice":
                letters = set().union(*(choice_letters(part) for part in got.split(HEDGE_SEP)))
                if None not in letters and len(letters) == 1:
                    return letters.pop()
                if None not in letters:
                    return HEDGE_SEP.join(sorted(letters))  # several letters: a hedge, judged wrong
                if name != "choice":
                    continue
            return got
    return None
