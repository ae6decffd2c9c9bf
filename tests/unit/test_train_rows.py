"""Pure parts of limo_rl.train: SFT file reading, rows, validation split, template and mask checks,
batching choice, checkpoint discovery, and the no-heavy-imports boundary."""

from __future__ import annotations

import json

import pytest

from limo_rl.train.batching import batching_kwargs, resolve_batching
from limo_rl.train.checkpoints import COMPLETE_MARKER, complete_checkpoints, mark_complete, newest_complete
from limo_rl.train.rows import (
    SFTDataError,
    has_generation_markers,
    loss_positions,
    mask_problems,
    read_sft_jsonl,
    split_validation,
    to_rows,
)
from limo_rl.types import SFTExample, chat_messages


def ex(i: int, answer: str = "5") -> SFTExample:
    return SFTExample(id=f"ex{i}", messages=chat_messages(f"q{i}") + ({"role": "assistant", "content": answer},))


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_read_sft_round_trip_and_rows(tmp_path):
    exs = [ex(i, f"answer {i}") for i in range(3)]
    path = write_jsonl(tmp_path / "sft.jsonl", [e.to_dict() for e in exs])
    back = read_sft_jsonl(path)
    assert back == exs
    rows = to_rows(back)
    assert rows[1]["messages"][-1] == {"role": "assistant", "content": "answer 1"}
    assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]


@pytest.mark.parametrize(
    "line, expected",
    [
        ("{not json", ":2: not valid JSON"),
        (json.dumps({"id": "b"}), ":2: missing field 'messages'"),
        (json.dumps({"id": "b", "messages": [{"role": "robot", "content": "x"}]}), "messages[0].role = 'robot'"),
        (json.dumps({"id": "b", "messages": [{"role": "user", "content": "x"}]}), "last message must be the assistant"),
        (json.dumps({"id": "b", "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": " "}]}),
         "messages[1].content) is empty"),
        (json.dumps(ex(0).to_dict()), "duplicate id 'ex0' (first on line 1)"),
    ],
)
def test_read_sft_errors_name_file_line_and_field(tmp_path, line, expected):
    path = write_jsonl(tmp_path / "bad.jsonl", [ex(0).to_dict(), line])
    with pytest.raises(SFTDataError) as err:
        read_sft_jsonl(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_read_sft_missing_and_empty_file(tmp_path):
    with pytest.raises(SFTDataError, match="not found"):
        read_sft_jsonl(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(SFTDataError, match="no SFT examples"):
        read_sft_jsonl(tmp_path / "empty.jsonl")


def test_validation_split_is_deterministic_disjoint_and_order_free():
    exs = [ex(i) for i in range(200)]
    train, val = split_validation(exs, 0.1, seed=3)
    assert len(val) == 20 and len(train) == 180
    assert {e.id for e in train}.isdisjoint({e.id for e in val})
    train2, val2 = split_validation(list(reversed(exs)), 0.1, seed=3)
    assert {e.id for e in val2} == {e.id for e in val}
    _, val_other_seed = split_validation(exs, 0.1, seed=4)
    assert {e.id for e in val_other_seed} != {e.id for e in val}
    # train keeps the input order
    assert [e.id for e in train] == [e.id for e in exs if e.id not in {v.id for v in val}]


def test_validation_split_small_and_disabled():
    assert split_validation([ex(0), ex(1)], 0.01)[1] and len(split_validation([ex(0), ex(1)], 0.99)[0]) == 1
    assert split_validation([ex(i) for i in range(10)], 0.0) == ([ex(i) for i in range(10)], [])
    assert split_validation([ex(0)], 0.5) == ([ex(0)], [])


def test_generation_marker_detection():
    assert has_generation_markers("{% generation %}x{% endgeneration %}")
    assert has_generation_markers("{%- generation -%}x{%- endgeneration %}")
    assert not has_generation_markers("{{ message['content'] }}")
    assert not has_generation_markers("{% generation %} without an end")
    assert not has_generation_markers(None)


def test_mask_problems():
    eot = 9
    ids = [1, 2, 3, 4, eot, 5, 6]
    assert mask_problems(ids, [0, 0, 1, 1, 1, 0, 0], eot) == []
    assert "outside" in mask_problems(ids, [0, 0, 1, 1, 0, 0, 0], eot)[0]
    assert "no token" in mask_problems(ids, [0] * 7, eot)[0]
    assert any("contiguous" in p for p in mask_problems(ids, [0, 1, 0, 1, 1, 0, 0], eot))
    assert loss_positions([-100, 4, -100, 7]) == [1, 3]


def test_batching_auto_per_device():
    assert resolve_batching("auto", use_gpu=False, flash_attention=False) == "padding_free"
    assert resolve_batching("auto", use_gpu=False, flash_attention=True) == "padding_free"
    assert resolve_batching("auto", use_gpu=True, flash_attention=False) == "padding_free"
    # auto never packs: packing makes a step a number of tokens, changing the recipe's batch size
    assert resolve_batching("auto", use_gpu=True, flash_attention=True) == "padding_free"
    assert resolve_batching("packing", use_gpu=False, flash_attention=False) == "packing"
    assert resolve_batching("auto", use_gpu=False, flash_attention=False, per_device_batch_size=1) == "padded"
    assert resolve_batching("padded", use_gpu=True, flash_attention=True) == "padded"
    with pytest.raises(ValueError, match="allowed"):
        resolve_batching("ragged", use_gpu=False, flash_attention=False)
    assert batching_kwargs("padding_free", 512)["max_length"] is None
    assert batching_kwargs("packing", 512) == {"packing": True, "packing_strategy": "bfd", "padding_free": True,
                                               "max_length": 512}


def _ckpt(root, step, complete=True, state=True):
    d = root / f"checkpoint-{step}"
    d.mkdir(parents=True)
    if state:
        (d / "trainer_state.json").write_text("{}")
    if complete:
        mark_complete(d, step, 1.0)
    return d


def test_newest_complete_checkpoint(tmp_path):
    assert newest_complete(tmp_path / "none") is None
    _ckpt(tmp_path, 9)
    ten = _ckpt(tmp_path, 10)
    _ckpt(tmp_path, 30, complete=False)  # killed mid-save
    _ckpt(tmp_path, 40, state=False)  # marker without trainer state: not trusted
    (tmp_path / "checkpoint-x").mkdir()
    (tmp_path / "other").mkdir()
    assert [p.name for p in complete_checkpoints(tmp_path)] == ["checkpoint-9", "checkpoint-10"]
    assert newest_complete(tmp_path) == ten
    assert json.loads((ten / COMPLETE_MARKER).read_text())["global_step"] == 10


def test_changed_inputs_move_old_checkpoints_aside_and_same_inputs_keep_them(tmp_path):
    from limo_rl.train.launcher import INPUTS_FILE, _finished, _set_aside_stale

    out = tmp_path / "train"
    _ckpt(out / "checkpoints", 5)
    (out / INPUTS_FILE).write_text(json.dumps({"input_hash": "aaaa"}))
    _set_aside_stale(out, "aaaa")
    assert newest_complete(out / "checkpoints") is not None
    _set_aside_stale(out, "bbbb")
    assert not (out / "checkpoints").exists()
    stale = [p for p in out.iterdir() if p.name.startswith("stale-aaaa")]
    assert len(stale) == 1 and newest_complete(stale[0] / "checkpoints").name == "checkpoint-5"
    # a finished run is reused only with the same inputs and an intact model folder
    (out / "train_metrics.json").write_text(json.dumps({"input_hash": "bbbb", "global_step": 3}))
    assert _finished(out, "bbbb") is None
    (out / "model").mkdir()
    (out / "model" / "config.json").write_text("{}")
    from limo_rl.run.hashing import hash_path

    # ... and only while the model is the one the training recorded (issue 25)
    (out / "train_metrics.json").write_text(json.dumps({"input_hash": "bbbb", "global_step": 3,
                                                        "model_digest": hash_path(out / "model")}))
    assert _finished(out, "bbbb")["global_step"] == 3 and _finished(out, "cccc") is None


def test_shipped_distributed_configs():
    from limo_rl.train.chat_template import shipped_config, shipped_template

    zero3 = json.loads(shipped_config("zero3.json").read_text())
    assert zero3["zero_optimization"]["stage"] == 3
    assert zero3["train_micro_batch_size_per_gpu"] == "auto"  # filled from the recipe by the HF integration
    assert zero3["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True  # HF-format student
    fsdp = json.loads(shipped_config("fsdp.json").read_text())
    assert fsdp["version"] == 2 and fsdp["state_dict_type"] == "FULL_STATE_DICT"
    assert has_generation_markers(shipped_template())
