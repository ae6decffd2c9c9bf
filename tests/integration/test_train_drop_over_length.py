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


def test_selection_length_rule_counts_what_training_counts():
    """ChainLength (selection's rule) gives the rendered length training's drop uses, chain by chain."""
    from limo_rl.data.static import sft_example
    from limo_rl.train.length import ChainLength
    from limo_rl.types import Problem

    model = str(next(p for p in sorted(PRETRAINED_DIR.iterdir()) if p.is_dir()))
    problems = [Problem(id="a", question="What is 2 + 2?", answer="4"),
                Problem(id="b", question="Solve x^2 = 9 for x > 0. Écris la réponse.", answer="3")]
    chains = ["step 1 + 1 = 2. \\boxed{4}", "Since x > 0, x = 3; check: 3^2 = 9 ✓. \\boxed{3}", "", " lead space"]
    length = ChainLength.for_model(model, "Reason step by step.", max_length=40)
    length.add_problems(problems)
    examples = [sft_example(p, c, "Reason step by step.", ex_id=f"{p.id}{i}", source="loop")
                for p in problems for i, c in enumerate(chains)]
    _, dropped = drop_over_length(examples, model, 0)  # every example dropped: each with its count
    counted = {d["id"]: d["tokens"] for d in dropped}
    for p in problems:
        for i, c in enumerate(chains):
            assert length.tokens(p.id, c) == counted[f"{p.id}{i}"], (p.id, c)
            assert length.fits(p.id, c) == (counted[f"{p.id}{i}"] <= 40)
