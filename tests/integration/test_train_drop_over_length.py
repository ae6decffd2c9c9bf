"""Examples longer than train.max_length are dropped and counted before training, never truncated."""

from __future__ import annotations

from limo_rl.toy.bootstrap import PRETRAINED_DIR
from limo_rl.train.launcher import drop_over_length
from limo_rl.types import SFTExample


def _ex(i: int, words: int) -> SFTExample:
    return SFTExample(id=f"e{i}", messages=({"role": "user", "content": "What is 2 + 2?"},
                                            {"role": "assistant", "content": " ".join(["step 1 + 1 = 2."] * words)
                                             + " \\boxed{4}"}))


def test_over_long_examples_are_dropped_and_counted():
    model = str(next(p for p in sorted(PRETRAINED_DIR.iterdir()) if p.is_dir()))
    examples = [_ex(0, 2), _ex(1, 200), _ex(2, 3), _ex(3, 400)]
    kept, dropped = drop_over_length(examples, model, 256)
    assert [e.id for e in kept] == ["e0", "e2"]
    assert [d["id"] for d in dropped] == ["e1", "e3"] and all(d["tokens"] > 256 and d["max_length"] == 256 for d in dropped)
    kept, dropped = drop_over_length(examples, model, 100_000)
    assert kept == examples and dropped == []
