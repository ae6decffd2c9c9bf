"""Text normalization shared by dedup and decontamination, and ``\\boxed{}`` extraction.

Contamination rarely arrives verbatim: a benchmark problem comes back with other
whitespace, ``\\dfrac`` for ``\\frac``, ``\\left(`` for ``(``, ``$...$`` for ``\\(...\\)``,
"five" for "5" or "1,000" for "1000". n-gram decontamination (s1 uses 13-grams,
open-r1 8-grams) only catches these if both sides are normalized the same way first, so
both dedup and decontamination tokenize through :func:`tokens` here.

Pure core: standard library only. Text is matched with regular expressions, never parsed
or evaluated.
"""

from __future__ import annotations

import re
import unicodedata

_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "thirteen": "13", "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17",
    "eighteen": "18", "nineteen": "19", "twenty": "20", "thirty": "30", "forty": "40",
    "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
    "hundred": "100", "thousand": "1000",
}
# LaTeX that changes typesetting, not content.
_DROP = re.compile(
    r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big|displaystyle|textstyle|quad|qquad|mathrm|mathbf|mathit|"
    r"text|textbf|textit|operatorname|limits|nolimits)(?![a-zA-Z])"
    r"|\\[,;:! ]|~|\$|\\\(|\\\)|\\\[|\\\]"
)
_ALIASES = ((re.compile(r"\\[dt]frac(?![a-zA-Z])"), r"\\frac"), (re.compile(r"\\cdot(?![a-zA-Z])"), r"\\times"),
            (re.compile(r"\\le(?![a-zA-Z])"), r"\\leq"), (re.compile(r"\\ge(?![a-zA-Z])"), r"\\geq"),
            (re.compile(r"\\ne(?![a-zA-Z])"), r"\\neq"))
_THOUSANDS = re.compile(r"(?<=\d)(?:,|\\,|\{,\})(?=\d{3}(?!\d))")
_TRAILING_ZERO = re.compile(r"(?<=\d)\.0+(?!\d)")
_TOKEN = re.compile(r"\\[a-z]+|[a-z]+|\d+(?:\.\d+)?|[+\-*/=<>^|!]")


def normalize(text: str) -> str:
    """Lower-case text with typesetting, spelled-out numbers and digit grouping made uniform."""
    text = unicodedata.normalize("NFKC", text)
    for pattern, repl in _ALIASES:
        text = pattern.sub(repl, text)
    text = _THOUSANDS.sub("", text)
    text = _DROP.sub(" ", text)
    text = text.replace("{", " ").replace("}", " ")
    text = _TRAILING_ZERO.sub("", text)
    return text.lower()


def tokens(text: str) -> list[str]:
    """Word, number, LaTeX-command and operator tokens of the normalized text (punctuation dropped)."""
    return [_NUMBER_WORDS.get(t, t) for t in _TOKEN.findall(normalize(text))]


def canonical(text: str) -> str:
    """The key for exact dedup: normalized tokens joined by single spaces."""
    return " ".join(tokens(text))


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) with balanced braces; None if absent."""
    best = None
    for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
            i += 1
        if depth == 0:
            best = text[m.end(): i - 1].strip()
    return best or None
