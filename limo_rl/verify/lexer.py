"""The one LaTeX lexer of the verifier's small grammars (:mod:`.arith`, :mod:`.exact`, :mod:`.numeric`).

Model text is untrusted, so every grammar reads it through this scanner: one regular expression
splits text into lexemes, each grammar maps a lexeme to its own token (or rejects it, or skips
it), and :func:`scan` enforces a token limit (:data:`MAX_TOKENS`, or a grammar's tighter one: the
arithmetic checker 80, the exact one 120, the cost bound each was tested at). Nothing
here evaluates anything; text outside a grammar is rejected by that grammar, never guessed at.

Lexemes are ``(kind, text)`` pairs:

* ``"num"``: a decimal number; ``3.`` and ``.5`` are numbers unless ``strict_decimals`` is set,
  in which case a number is ``\\d+(\\.\\d+)?`` and a dot outside one is an ``"other"`` lexeme;
* ``"cmd"``: a LaTeX command name without its backslash (``frac``, ``cdot``);
* ``"letter"``: one ASCII letter;
* ``"other"``: any other single non-space character (operators, brackets, punctuation).

Whitespace separates lexemes and is otherwise dropped.

Pure core: standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TypeVar

MAX_TOKENS = 200

# strict_decimals -> the lexeme pattern: only the number spelling differs ("3." and ".5" or not)
_LEXEME = {strict: re.compile(r"\s*(?:(" + number + r")|\\([A-Za-z]+)|([A-Za-z])|(\S))")
           for strict, number in ((False, r"\d+(?:\.\d*)?|\.\d+"), (True, r"\d+(?:\.\d+)?"))}

T = TypeVar("T")


def lex(s: str, *, strict_decimals: bool = False) -> Iterator[tuple[str, str]]:
    """The lexemes of ``s`` in order (lazy: a grammar that rejects early reads no further)."""
    for m in _LEXEME[strict_decimals].finditer(s):
        num, cmd, letter, other = m.groups()
        if num is not None:
            yield "num", num
        elif cmd is not None:
            yield "cmd", cmd
        elif letter is not None:
            yield "letter", letter
        else:
            yield "other", other


def scan(s: str, token: Callable[[str, str], T | None], too_long: Exception, *,
         strict_decimals: bool = False, max_tokens: int = MAX_TOKENS) -> list[T]:
    """A grammar's tokens for ``s``: ``token(kind, text)`` maps each lexeme to a token, or None to skip
    it, or raises to reject the text; more than ``max_tokens`` tokens raises ``too_long``."""
    out: list[T] = []
    for kind, text in lex(s, strict_decimals=strict_decimals):
        tok = token(kind, text)
        if tok is None:
            continue
        out.append(tok)
        if len(out) > max_tokens:
            raise too_long
    return out
