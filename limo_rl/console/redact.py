"""Secrets never reach disk: scrub keys from text before it is stored, pass keys without Ray seeing them.

Two leaks were found: (1) an API key handed to Ray actors through ``runtime_env={"env_vars": ...}``
is written in plain text to Ray's ``runtime_env_agent.log``; (2) a 401 body that echoes the request
put the bearer token into ``manifest.json``. So:

* :func:`redact` replaces every registered secret value, bearer/basic tokens, ``sk-...`` style keys
  and ``api_key=...`` pairs in a string (:func:`redact_obj` walks JSON-like objects). The manifest,
  stage errors and engine errors go through it.
* :class:`SecretEnv` carries secret environment variables to Ray actors as a plain pickled object
  argument (it travels through the object store, which Ray never logs), and re-exports them inside
  the actor's own process. Its ``repr`` shows names only, so a log of the argument shows no value.

Pure standard library.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[REDACTED]"
_KNOWN: set[str] = set()
SECRET_ENV_NAMES = ("OPENAI_API_KEY", "WANDB_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "ANTHROPIC_API_KEY")
_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\b(?:sk|pk|rk|hf|xox[abp])[-_][A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)([\"']?(?:api[_-]?key|authorization|x-api-key|access[_-]?token|secret)[\"']?\s*[:=]\s*[\"']?)"
               r"[^\s\"',}]{6,}"),
)


def register_secret(value: str | None) -> None:
    """Remember a secret value so :func:`redact` removes it wherever it appears, whatever its shape."""
    if value and len(value) >= 6:
        _KNOWN.add(value)


def register_env_secrets(names: Iterable[str] = ()) -> None:
    for name in (*SECRET_ENV_NAMES, *names):
        register_secret(os.environ.get(name))


def redact(text: str) -> str:
    """``text`` with known secrets and key-shaped tokens replaced by ``[REDACTED]``."""
    if not text:
        return text
    for value in sorted(_KNOWN, key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _PATTERNS[1].sub(MASK, text)
    return _PATTERNS[2].sub(lambda m: f"{m.group(1)}{MASK}", text)


def redact_obj(obj: Any) -> Any:
    """A copy of a JSON-like object with every string redacted."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, Mapping):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    return obj


class SecretEnv:
    """Secret environment variables for a Ray actor, passed as an argument instead of ``runtime_env``."""

    def __init__(self, names: Iterable[str]):
        self._values = {n: os.environ[n] for n in names if n and n in os.environ}

    def export(self) -> None:
        """Inside the actor: set the variables in this process only (never logged by Ray)."""
        os.environ.update(self._values)
        for v in self._values.values():
            register_secret(v)

    def __bool__(self) -> bool:
        return bool(self._values)

    def __repr__(self) -> str:
        return f"SecretEnv({sorted(self._values)})"
