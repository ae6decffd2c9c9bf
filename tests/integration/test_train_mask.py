"""Which tokens carry loss, with the real TRL tokenization: exactly the assistant reply and its
end-of-turn token; a pad == eos model still learns to stop; templates without generation markers."""

from __future__ import annotations

import shutil

import pytest

from limo_rl.config import TrainConfig
from limo_rl.train.chat_template import TemplateError, resolve_chat_template
from limo_rl.train.rows import loss_positions, to_rows
from limo_rl.train.runner import build_trainer, train_worker
from limo_rl.types import SFTExample, chat_messages

pytestmark = pytest.mark.slow

ANSWER = "Let me compute: 12 + 30 = 42. Check: 42 - 30 = 12. The answer is \\boxed{42}."


def example(i: int = 0, answer: str = ANSWER, question: str = "What is 12 + 30?") -> SFTExample:
    return SFTExample(id=f"e{i}", messages=chat_messages(question) + ({"role": "assistant", "content": answer},))


def worker_config(model_dir, out_dir, examples, **train) -> dict:
    cfg = TrainConfig(max_length=512, logging_steps=5, validation_split=0.0, **train)
    return {"train_rows": to_rows(examples), "val_rows": [], "base_model": str(model_dir),
            "cfg": cfg.model_dump(mode="json"), "out_dir": str(out_dir), "seed": 0,
            "batching": "padded" if cfg.batching == "auto" else cfg.batching, "input_hash": "test"}


@pytest.fixture(scope="module")
def pad_is_eos_model(tiny_model_dir, tmp_path_factory):
    """The tiny model, but its tokenizer pads with the end-of-turn token (as many chat models do)."""
    from transformers import AutoTokenizer

    out = tmp_path_factory.mktemp("pad-eos") / "model"
    shutil.copytree(tiny_model_dir, out)
    tok = AutoTokenizer.from_pretrained(str(out))
    tok.pad_token = tok.eos_token
    tok.save_pretrained(str(out))
    return out


def expected_positions(tok, messages) -> list[int]:
    """Independently: the tokens of the assistant content plus <|im_end|>, located by rendering the prefix."""
    prefix = tok.apply_chat_template(list(messages[:-1]), tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(list(messages), tokenize=False)
    target = messages[-1]["content"] + tok.eos_token
    assert full.startswith(prefix) and full[len(prefix):].startswith(target)
    start = len(tok(prefix, add_special_tokens=False)["input_ids"])
    n = len(tok(target, add_special_tokens=False)["input_ids"])
    return list(range(start, start + n))


def test_loss_on_exactly_the_assistant_tokens_and_eot(tiny_model_dir, tmp_path):
    ex = example()
    trainer, source = build_trainer(worker_config(tiny_model_dir, tmp_path, [ex]))
    tok = trainer.processing_class
    row = trainer.train_dataset[0]
    ids, labels = row["input_ids"], row["labels"]
    full = tok.apply_chat_template(list(ex.messages), tokenize=False)
    assert ids == tok(full, add_special_tokens=False)["input_ids"]
    pos = loss_positions(labels)
    assert pos == expected_positions(tok, ex.messages)
    assert all(labels[p] == ids[p] for p in pos)
    assert ids[pos[-1]] == tok.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.decode(ids[pos[0]:pos[-1] + 1]) == ANSWER + "<|im_end|>"
    # nothing of the system prompt, the question or the role headers carries loss
    assert pos[0] > 0 and "assistant" in tok.decode(ids[: pos[0]]) and pos[-1] == len(ids) - 2
    assert source == "model"


def test_pad_equal_to_eos_keeps_loss_on_eos_in_padded_batch(pad_is_eos_model, tmp_path):
    short, long = example(0, "It is \\boxed{42}."), example(1)
    trainer, _ = build_trainer(worker_config(pad_is_eos_model, tmp_path, [short, long]))
    tok = trainer.processing_class
    assert tok.pad_token_id == tok.eos_token_id
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    ids, labels, attn = batch["input_ids"][0], batch["labels"][0], batch["attention_mask"][0]
    n_real = int(attn.sum())
    assert n_real < ids.shape[0]  # the short row is padded ...
    assert (ids[n_real:] == tok.eos_token_id).all()  # ... with the eos id
    assert (labels[n_real:] == -100).all()  # padding carries no loss
    pos = loss_positions(labels.tolist())
    assert labels[pos[-1]] == tok.eos_token_id  # but the real end-of-turn token does


def test_pad_equal_to_eos_model_learns_to_stop(pad_is_eos_model, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    answer = "The answer is \\boxed{42}."
    exs = [example(i, answer) for i in range(16)]
    train_worker(worker_config(pad_is_eos_model, tmp_path, exs, epochs=8, learning_rate=3e-3,
                               per_device_batch_size=4, lr_scheduler="constant"))
    model_dir = tmp_path / "model"
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    prompt = tok.apply_chat_template(list(exs[0].messages[:-1]), add_generation_prompt=True, return_tensors="pt",
                                     return_dict=True)
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=40, do_sample=False)
    new = out[0, prompt["input_ids"].shape[1]:].tolist()
    assert tok.eos_token_id in new, tok.decode(new)
    assert tok.decode(new[: new.index(tok.eos_token_id)]) == answer


def test_chatml_template_without_markers_gets_the_shipped_training_template(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    tok.chat_template = tok.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    template, source = resolve_chat_template(tok)
    assert source == "limo_rl:chatml" and "{% generation %}" in template
    msgs = list(example().messages)
    # same text as the model's own template renders: training matches inference
    assert tok.apply_chat_template(msgs, tokenize=False, chat_template=template) == tok.apply_chat_template(
        msgs, tokenize=False)


def test_unknown_template_without_markers_fails_with_a_fix(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    tok.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    tok.eos_token = "<|endoftext|>"
    with pytest.raises(TemplateError) as err:
        resolve_chat_template(tok, "my-model")
    msg = str(err.value)
    assert "my-model" in msg and "{% generation %}" in msg and "end-of-turn" in msg


def test_markers_that_leave_out_the_eot_token_are_rejected(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    tok.chat_template = tok.chat_template.replace(
        "{% generation %}{{ message['content'] }}{{ '<|im_end|>' }}{% endgeneration %}",
        "{% generation %}{{ message['content'] }}{% endgeneration %}{{ '<|im_end|>' }}",
    )
    tok.eos_token = "<|endoftext|>"  # not ChatML-shaped any more, so no fallback template applies
    with pytest.raises(TemplateError, match="end-of-turn"):
        resolve_chat_template(tok)


def test_padding_free_rows_are_truncated_to_max_length(tiny_model_dir, tmp_path):
    ex = example()
    full, _ = build_trainer(worker_config(tiny_model_dir, tmp_path / "a", [ex], batching="padded"))
    expected = expected_positions(full.processing_class, ex.messages)
    cut = expected[0] + 5
    config = worker_config(tiny_model_dir, tmp_path / "b", [ex], batching="padding_free", per_device_batch_size=2)
    config["cfg"]["max_length"] = cut
    trainer, _ = build_trainer(config)
    row = trainer.train_dataset[0]
    assert len(row["input_ids"]) == cut and row["input_ids"] == full.train_dataset[0]["input_ids"][:cut]
    assert loss_positions(row["labels"]) == expected[:5]
    batch = trainer.data_collator([row, row])
    assert "attention_mask" not in batch and batch["input_ids"].shape == (1, 2 * cut)
    assert batch["position_ids"][0, cut].item() == 0  # the second example restarts its positions
