"""Final-answer extraction from a whole reasoning chain.

The LIMO prompt asks for the answer "within \\boxed{}", so the primary rule is the one the
MATH grader (``last_boxed_only_string``, Hendrycks et al. 2021) and Qwen2.5-Math's
evaluation use: the *last* ``\\boxed{...}`` / ``\\fbox{...}``, braces matched, nesting
allowed. Configurable fallbacks follow, in order: "the final answer is ..." style endings
(Minerva's ``Final Answer: The final answer is X``), a choice letter for multiple-choice
benchmarks (GPQA asks for a letter in the box), and the last number in the text.

A chain with no answer returns ``None`` (the grader's ``no_answer``), never an exception.
Every scan is linear in the text and works from the end, so long chains stay cheap.

Pure core: standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

DEFAULT_FALLBACKS: tuple[str, ...] = ("boxed", "final_answer")
FALLBACK_NAMES = ("boxed", "final_answer", "choice", "last_number")
MAX_ANSWER_CHARS = 10_000
_TAIL = 4000  # text-pattern fallbacks look at the end of the chain only

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b")
_FINAL_RE = re.compile(
    r"(?:final\s+answer\s*(?:is|:)|the\s+answer\s+is|answer\s*:|答案(?:是|为|:|：))\s*(?:\*\*)?\s*",
    re.I,
)
_CHOICE_RE = re.compile(
    r"(?:answer|option|choice)\s*(?:is|:)?\s*(?:\*\*)?\s*[(\[]?([A-J])[)\]]?(?![A-Za-z])"
    r"|^\s*[(\[]?([A-J])[)\]]?\s*(?:[.:)]|$)",
    re.I | re.M,
)
_LETTER_RE = re.compile(r"^\s*(?:\\text\{\s*)?[(\[]?\s*([A-J])\s*[)\]]?\s*\}?\s*(?:[.:)．]|\s|$)", re.I)
_NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


def _balanced(text: str, open_at: int) -> tuple[str, int] | None:
    """Content of the brace group opening at ``open_at`` and the index after it, or None if unclosed."""
    depth = 0
    for i in range(open_at, min(len(text), open_at + MAX_ANSWER_CHARS)):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
            continue
        if ch == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif ch == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[open_at + 1: i], i + 1
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last complete ``\\boxed{...}`` or ``\\fbox{...}`` (or ``\\boxed 5``), else None."""
    starts = [m for m in _BOX_RE.finditer(text)]
    for m in reversed(starts):
        j = m.end()
        while j < len(text) and text[j] == " ":
            j += 1
        if j < len(text) and text[j] == "{":
            got = _balanced(text, j)
            if got is not None:
                return got[0].strip()
        elif j > m.end():  # \boxed 5
            token = re.match(r"[^\s$.,]+", text[j:])
            if token:
                return token.group(0)
    return None


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


_EXTRACTORS = {"boxed": last_boxed, "final_answer": _final_answer, "choice": _choice, "last_number": _last_number}


def extract_answer(
    text: str, fallbacks: Sequence[str] = DEFAULT_FALLBACKS, answer_type: str = "auto"
) -> str | None:
    """The final answer of a chain, trying ``fallbacks`` in order; a choice letter for ``answer_type="choice"``.

    Returns None when nothing is found (an empty box counts as nothing).
    """
    if not isinstance(text, str) or not text:
        return None
    # Chains are stored as <think>reasoning</think>answer (limo_rl.generate.prompts.canonical_chain):
    # the answer is what follows the reasoning, not a value tried and dropped inside it.
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    order = list(fallbacks)
    if answer_type == "choice" and "choice" not in order:
        order.append("choice")
    for name in order:
        fn = _EXTRACTORS.get(name)
        if fn is None:
            raise ValueError(f"unknown answer fallback {name!r}; known: {', '.join(FALLBACK_NAMES)}")
        got = fn(text)
        if got is not None and got.strip():
            got = got.strip()
            if answer_type == "choice":
                letter = choice_letter(got)
                if letter:
                    return letter
                if name != "choice":
                    continue
            return got
    return None
