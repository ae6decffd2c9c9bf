"""SFT examples -> TRL conversational rows, the validation split, and loss-mask checks.

LIMO (Ye et al., 2025) fine-tunes on (system, user, assistant) conversations with the loss on
the assistant turn only. TRL 1.16's ``assistant_only_loss`` derives that mask from
``{% generation %}`` markers in the chat template; a template without them trains on nothing
(TRL raises), and a template whose end-of-turn token sits outside them trains a model that
never learns to stop. This module holds the pure half of getting that right: row building,
input checks with file/line/field errors, a deterministic validation split (hash of the example
id, so the split never moves when the set is reordered or extended), and checks on a rendered
mask. LIMO picked its checkpoint on the test benchmarks; we pick on this split instead.

Pure core: standard library only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from limo_rl.data.io import DataError, iter_objects
from limo_rl.types import SFTExample

ROLES = ("system", "user", "assistant")
_GENERATION_RE = re.compile(r"\{%-?\s*generation\s*-?%\}")
_END_GENERATION_RE = re.compile(r"\{%-?\s*endgeneration\s*-?%\}")


class SFTDataError(ValueError):
    """An SFT file or example that cannot be trained on; the message names the file, line and field."""


def check_example(ex: SFTExample, where: str = "") -> None:
    """Raise SFTDataError unless ``ex`` is a conversation ending in a non-empty assistant turn."""
    at = f"{where}: " if where else ""
    if not ex.messages:
        raise SFTDataError(f"{at}example {ex.id!r}: field 'messages' is empty")
    for i, m in enumerate(ex.messages):
        if not isinstance(m, dict):
            raise SFTDataError(f"{at}example {ex.id!r}: messages[{i}] must be an object with 'role' and 'content'")
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise SFTDataError(f"{at}example {ex.id!r}: messages[{i}].role = {role!r}; allowed: {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise SFTDataError(f"{at}example {ex.id!r}: messages[{i}].content must be a string, got {type(content).__name__}")
    if ex.messages[-1]["role"] != "assistant":
        raise SFTDataError(f"{at}example {ex.id!r}: the last message must be the assistant turn (the loss target)")
    if not ex.messages[-1]["content"].strip():
        raise SFTDataError(f"{at}example {ex.id!r}: the assistant message (messages[{len(ex.messages) - 1}].content) is empty")


def read_sft_jsonl(path: str | Path) -> list[SFTExample]:
    """Read JSONL rows of ``SFTExample.to_dict()``; errors name the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise SFTDataError(f"{path}: SFT file not found")
    out: list[SFTExample] = []
    seen: dict[str, int] = {}
    try:
        rows = list(iter_objects(path))
    except DataError as exc:
        raise SFTDataError(str(exc)) from None
    for lineno, row in rows:
        where = f"{path}:{lineno}"
        for key in ("id", "messages"):
            if key not in row:
                raise SFTDataError(f"{where}: missing field '{key}'")
        if not isinstance(row["messages"], list):
            raise SFTDataError(f"{where}: field 'messages' must be a list of {{role, content}} objects")
        if not all(isinstance(m, dict) for m in row["messages"]):
            raise SFTDataError(f"{where}: every item of 'messages' must be an object with 'role' and 'content'")
        try:
            ex = SFTExample.from_dict(row)
        except TypeError as exc:
            raise SFTDataError(f"{where}: {exc}") from None
        check_example(ex, where)
        if ex.id in seen:
            raise SFTDataError(f"{where}: duplicate id {ex.id!r} (first on line {seen[ex.id]})")
        seen[ex.id] = lineno
        out.append(ex)
    if not out:
        raise SFTDataError(f"{path}: no SFT examples")
    return out


def to_rows(examples: Sequence[SFTExample]) -> list[dict[str, Any]]:
    """TRL conversational rows: ``{"messages": [{role, content}, ...]}`` (order kept)."""
    rows = []
    for ex in examples:
        check_example(ex)
        rows.append({"messages": [{"role": m["role"], "content": m["content"]} for m in ex.messages]})
    return rows


def _bucket(example_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}\x1f{example_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_validation(
    examples: Sequence[SFTExample], fraction: float, seed: int = 0
) -> tuple[list[SFTExample], list[SFTExample]]:
    """Hold out ~``fraction`` of the examples by a hash of (seed, id): stable under reordering.

    With ``fraction > 0`` and at least two examples, at least one is held out and at least one
    is kept for training.
    """
    if fraction <= 0 or len(examples) < 2:
        return list(examples), []
    ranked = sorted(examples, key=lambda e: (_bucket(e.id, seed), e.id))
    n_val = min(len(examples) - 1, max(1, round(fraction * len(examples))))
    val_ids = {e.id for e in ranked[:n_val]}
    return [e for e in examples if e.id not in val_ids], [e for e in examples if e.id in val_ids]


# ---------------------------------------------------------------------------------------- template checks
def has_generation_markers(chat_template: str | None) -> bool:
    """Does the template mark assistant text with ``{% generation %}`` ... ``{% endgeneration %}``?"""
    if not chat_template:
        return False
    return bool(_GENERATION_RE.search(chat_template) and _END_GENERATION_RE.search(chat_template))


def loss_positions(labels: Sequence[int], ignore_index: int = -100) -> list[int]:
    """Token positions that carry loss."""
    return [i for i, v in enumerate(labels) if v != ignore_index]


def mask_problems(input_ids: Sequence[int], mask: Sequence[int], eot_id: int) -> list[str]:
    """What is wrong with an assistant mask rendered from one (user, assistant, user) chat.

    Empty list: the mask covers one contiguous assistant span that ends on the end-of-turn token.
    """
    if len(input_ids) != len(mask):
        return [f"mask length {len(mask)} != token count {len(input_ids)}"]
    pos = [i for i, m in enumerate(mask) if m]
    if not pos:
        return ["no token is marked as assistant: the template's {% generation %} markers produce an empty mask"]
    problems = []
    if pos != list(range(pos[0], pos[-1] + 1)):
        problems.append("the assistant mask is not one contiguous span")
    if input_ids[pos[-1]] != eot_id:
        problems.append(
            "the end-of-turn token is outside the {% generation %} markers: the model would never learn to stop"
        )
    return problems
