"""The teacher shipped with the package is the one its recorded config bootstraps, and toy:// uses it."""

from __future__ import annotations

import json

from limo_rl.config import ToyConfig
from limo_rl.run.artifacts import hash_file
from limo_rl.toy.bootstrap import INFO_FILE, PRETRAINED_DIR, resolve_toy_model, toy_model_key


def test_shipped_teacher_matches_its_key_and_config():
    shipped = sorted(p for p in PRETRAINED_DIR.iterdir() if p.is_dir())
    assert shipped, "no pretrained teacher shipped"
    for folder in shipped:
        info = json.loads((folder / INFO_FILE).read_text())
        toy = ToyConfig(**info["config"])
        assert folder.name == toy_model_key("teacher", toy)
        # it knows more than it shows: its greedy reply is mostly a bare answer (0.02 on 100 toy_dev problems)
        # while 8 samples at T=0.8 solve far more (0.26): the headroom the loop and the static set live on.
        # The metadata scores the dev split only: no test set (toy_eval, toy_confirm) is read while designing
        greedy, sampled = info["toy_dev_pass@1"], info["toy_dev_pass@8_T0.8"]
        assert not [k for k in info if k.startswith(("toy_eval", "toy_confirm"))]
        assert info["kind"] == "toy-teacher" and greedy <= 0.3 and sampled >= greedy + 0.15
        assert sum(ph["steps"] for ph in info["phases"]) == toy.bootstrap_steps + toy.continue_steps
        for name in ("model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"):
            assert (folder / name).is_file(), name


def test_default_teacher_resolves_to_a_copy_of_the_shipped_one(tmp_path):
    path = resolve_toy_model("toy://teacher", tmp_path, ToyConfig())
    shipped = PRETRAINED_DIR / path.name
    assert hash_file(path / "model.safetensors") == hash_file(shipped / "model.safetensors")
    assert json.loads((path / INFO_FILE).read_text())["source"].startswith("shipped")
    base = resolve_toy_model("toy://base", tmp_path, ToyConfig())
    assert hash_file(base / "model.safetensors") == hash_file(path / "model.safetensors")
    # any other config is bootstrapped, not copied
    other = toy_model_key("teacher", ToyConfig(seed=1))
    assert not (PRETRAINED_DIR / other).exists()
