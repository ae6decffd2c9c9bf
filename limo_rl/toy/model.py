"""A tiny Qwen2 model and tokenizer, built locally, saved in Hugging Face format.

No weights can be downloaded here, so tests and the quickstart build their own model:
a byte-level BPE tokenizer whose digits are always single tokens (so arithmetic is
learnable), a ChatML template whose assistant turn sits inside ``{% generation %}``
markers with the end-of-turn token included (so TRL's assistant-only loss trains the
model to stop), and a random-init Qwen2 config. Every engine and trainer loads the result
with ``from_pretrained`` exactly as it would load a hub model.

FIELD-NOTES: transformers 5 may rebuild a qwen2 tokenizer's pre-tokenizer on reload, so
the tokenizer is saved as a plain fast tokenizer and :func:`make_tiny_model` checks that
ids survive a save/reload round trip.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from limo_rl.run.artifacts import follow_umask

log = logging.getLogger(__name__)

BOS = "<|endoftext|>"
EOT = "<|im_end|>"
START = "<|im_start|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = [BOS, START, EOT, PAD]

# ChatML with generation markers around the assistant content *and* its end-of-turn token.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] }}{{ '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

# Text the BPE merges are learned from: the vocabulary of toy chains and of math in general.
_SEED_TEXT = """
Please reason step by step, and put your final answer within \\boxed{}.
Let me compute this step by step. First, add the ones digits. Then carry the tens.
So the answer is \\boxed{42}. Therefore the result is 17. Since 3 + 4 = 7, we get 7.
Let me verify: substituting back, 2 * 5 + 3 = 13, which matches. Double check: 13 - 3 = 10.
Let me check the answer by recomputing the sum the other way. Perhaps we might try another way.
Solve for x: 3x + 4 = 19, so 3x = 15 and x = 5. Simplify the fraction \\frac{6}{8} = \\frac{3}{4}.
What is 123 + 456? What is 98 - 37? Compute 12 * 7. Simplify 10/15. The product is 84.
Subtract, multiply, divide, the sum, the difference, the quotient, the remainder, equals, is, of, and.
Hmm, wait, that is wrong. Let me redo it. Sanity check passed. Good, this confirms the answer.
"""


def build_tokenizer(vocab_size: int = 512, corpus: Sequence[str] = ()):
    """A fast BPE tokenizer with single-token digits and the chat template above.

    ``corpus``: extra text to learn merges from (the toy world passes its chains, so a
    chain line costs a few tokens instead of one per byte)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_SEED_TEXT] * 4 + list(corpus), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOT, pad_token=PAD, unk_token=None,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def make_tiny_model(
    out_dir: str | Path,
    *,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 2048,
    seed: int = 0,
    vocab_size: int = 512,
    tokenizer_corpus: Sequence[str] = (),
) -> Path:
    """Write a random-init tiny Qwen2 + tokenizer to ``out_dir`` (HF format) and return the path."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(vocab_size, tokenizer_corpus)
    config = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or hidden_size * 4,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    follow_umask(out)
    _check_roundtrip(tok, out)
    (out / "limo_toy.json").write_text(json.dumps({"kind": "tiny-qwen2", "seed": seed}) + "\n")
    log.info("tiny model (%d params) written to %s", sum(p.numel() for p in model.parameters()), out)
    del AutoTokenizer
    return out


def load_tokenizer(path: str | Path, padding_side: str = "left"):
    """AutoTokenizer with the padding side set (it is not saved)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    tok.padding_side = padding_side
    return tok


def _check_roundtrip(tok, path: Path) -> None:
    sample = "Let me verify: 123 + 456 = 579. \\boxed{579}" + EOT
    reloaded = load_tokenizer(path)
    a, b = tok(sample)["input_ids"], reloaded(sample)["input_ids"]
    if a != b:
        raise RuntimeError(f"tokenizer ids changed after reload in {path}: {a[:12]} vs {b[:12]}")
