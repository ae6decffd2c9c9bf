"""The chat template a training run uses: an assistant-only loss needs ``{% generation %}`` markers.

TRL's ``assistant_only_loss=True`` masks the loss to the tokens a template encloses in
``{% generation %}...{% endgeneration %}``, and the enclosed span must end on the end-of-turn token
(the model must learn to stop). :func:`resolve_chat_template` checks that by rendering a probe chat,
never assumes it: the model's own template when it qualifies, else TRL's patched template of a known
family, else the shipped ChatML one when the model speaks ChatML, else :class:`TemplateError` saying
how to fix the template.

The heavy import (transformers) happens inside :func:`load_tokenizer_for_training`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from limo_rl.train.rows import has_generation_markers, mask_problems

_PROBE = [
    {"role": "user", "content": "What is 2 + 3?"},
    {"role": "assistant", "content": "2 + 3 = 5. The answer is \\boxed{5}."},
    {"role": "user", "content": "And 4 + 4?"},
]


class TemplateError(ValueError):
    """The model's chat template cannot give an assistant-only loss that ends on the end-of-turn token."""


def shipped_template(name: str = "chatml_train.jinja") -> str:
    return resources.files("limo_rl.train").joinpath("templates", name).read_text()


def shipped_config(name: str) -> Path:
    """Path of a DeepSpeed/FSDP config shipped as package data (``zero3.json``, ``fsdp.json``)."""
    return Path(str(resources.files("limo_rl.train").joinpath("configs", name)))


def _probe_mask(tok: Any, template: str) -> list[str]:
    out = tok.apply_chat_template(
        _PROBE, chat_template=template, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    return mask_problems(list(out["input_ids"]), list(out["assistant_masks"]), tok.eos_token_id)


def resolve_chat_template(tok: Any, model_name: str = "") -> tuple[str, str]:
    """The training template for ``tok`` and where it came from: "model", "trl" or "limo_rl:chatml".

    Order: the model's own template if it has generation markers; TRL's patched version of a
    known family (Qwen2.5, Qwen3, Llama 3, ...); our ChatML training template when the
    tokenizer speaks ChatML. Each candidate must pass the probe (assistant mask non-empty,
    ending on ``eos_token``). Otherwise a TemplateError says how to fix it.
    """
    current = tok.chat_template if isinstance(tok.chat_template, str) else (tok.chat_template or {}).get("default")
    candidates: list[tuple[str, str]] = []
    if has_generation_markers(current):
        candidates.append(("model", current))
    elif current:
        try:
            from trl.chat_template_utils import get_training_chat_template

            patched = get_training_chat_template(tok)
            if patched:
                candidates.append(("trl", patched))
        except ValueError:
            pass
    vocab = tok.get_vocab()
    if "<|im_start|>" in vocab and "<|im_end|>" in vocab and tok.eos_token == "<|im_end|>":
        candidates.append(("limo_rl:chatml", shipped_template()))
    reasons = []
    for source, template in candidates:
        problems = _probe_mask(tok, template)
        if not problems:
            return template, source
        reasons.append(f"{source} template: {'; '.join(problems)}")
    detail = ("\n  - " + "\n  - ".join(reasons)) if reasons else ""
    raise TemplateError(
        f"model {model_name or tok.name_or_path}: no chat template gives an assistant-only loss ending on the "
        f"end-of-turn token {tok.eos_token!r}.{detail}\n"
        "Fix: wrap each assistant message *and its end-of-turn token* in {% generation %}...{% endgeneration %} "
        "in the tokenizer's chat_template (tokenizer_config.json / chat_template.jinja), e.g. "
        "\"{% generation %}{{ message['content'] }}<|im_end|>{% endgeneration %}\", and make eos_token that "
        "end-of-turn token."
    )


def load_tokenizer_for_training(model_path: str) -> tuple[Any, str, str]:
    """Tokenizer with a verified training template installed (so it is also what gets saved)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    template, source = resolve_chat_template(tok, model_path)
    tok.chat_template = template
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token  # labels are padded with -100, so EOS still carries loss
    return tok, template, source
