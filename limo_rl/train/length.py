"""How long a chain is as training sees it: its rendered conversation, in the student's tokens.

Training drops every example whose rendered chat exceeds ``train.max_length``
(:func:`limo_rl.train.launcher.drop_over_length`). Checked only there, a long chain chosen at
selection is lost and the arm trains on fewer examples than it selected, while a shorter correct
chain of the same problem stood next in line. So selection asks :class:`ChainLength` first and
passes over chains that would not fit (counted as ``over_length``), taking the next-best one.

The count: the conversation with an empty assistant turn (system prompt, question, the
template's markers and end-of-turn token), counted once per problem, plus the chain's own tokens.
The template writes the chain between special tokens (``<|im_start|>assistant\\n`` ... ``<|im_end|>``),
so the sum equals the full rendering except where the tokenizer would merge the chain's first
characters with the marker's last (a chain opening with a newline); training's own check stays
as the backstop for those.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from limo_rl.types import Problem, chat_messages

log = logging.getLogger(__name__)


class ChainLength:
    """Rendered training length of (problem, chain) pairs for one tokenizer and system prompt.

    ``heads`` holds one int per problem (bounded like selection's problem index), filled by
    :meth:`add_problems` before the chains arrive."""

    def __init__(self, tokenizer: Any, system_prompt: str | None, max_length: int):
        self.tok, self.system_prompt, self.max_length = tokenizer, system_prompt, max_length
        self.heads: dict[str, int] = {}

    @classmethod
    def for_model(cls, model_path: str, system_prompt: str | None, max_length: int) -> ChainLength:
        """With the tokenizer and chat template training will use for ``model_path``."""
        from limo_rl.train.chat_template import load_tokenizer_for_training

        tok, _, _ = load_tokenizer_for_training(model_path)
        return cls(tok, system_prompt, max_length)

    def _render(self, question: str, chain: str) -> int:
        messages = [*chat_messages(question, self.system_prompt), {"role": "assistant", "content": chain}]
        return len(self.tok.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])

    def add_problems(self, problems: Iterable[Problem]) -> None:
        for p in problems:
            self.heads[p.id] = self._render(p.question, "")

    def tokens(self, problem_id: str, chain: str) -> int:
        """The rendered length of the problem's conversation with ``chain`` as the answer."""
        return self.heads[problem_id] + len(self.tok(chain, add_special_tokens=False)["input_ids"])

    def fits(self, problem_id: str, chain: str) -> bool:
        # a token of a byte-level (or byte-fallback) tokenizer covers at least one byte: a chain with no more
        # bytes than the room left fits without being tokenized (most chains, at a 16k max_length)
        if self.heads[problem_id] + len(chain.encode("utf-8")) <= self.max_length:
            return True
        return self.tokens(problem_id, chain) <= self.max_length
