"""The ``hf`` engine in-process on the tiny model: finish reasons, stop strings, seeds, batching."""

from __future__ import annotations

import pytest

from limo_rl.config import GenerateConfig
from limo_rl.generate.engines.hf import HFEngine
from limo_rl.generate.prompts import build_request, sample_seeds
from limo_rl.types import Problem

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    eng = HFEngine(tiny_model_dir, device="cpu", batch_size=4)
    yield eng
    eng.close()


def _reqs(cfg, k=4, base_seed=0):
    problems = [Problem(id=f"h{i}", question=f"Simplify {i}/{i + 2}.", answer="x") for i in range(k)]
    return [build_request(p, cfg, base_seed=base_seed) for p in problems], \
        [sample_seeds(base_seed, 1, p.id, cfg.n) for p in problems]


def test_length_when_budget_runs_out_and_seeds_decide_samples(engine):
    cfg = GenerateConfig(n=3, max_new_tokens=5, temperature=1.0, top_p=1.0)
    reqs, seeds = _reqs(cfg)
    out = engine.generate(reqs, seeds)
    assert [len(r) for r in out] == [3] * 4
    assert all(c.n_tokens <= 5 for r in out for c in r)
    assert all(c.finish_reason == "length" for r in out for c in r if c.n_tokens == 5)
    assert engine.generate(reqs, seeds) == out
    other = engine.generate(*_reqs(cfg, base_seed=1))
    assert [c.text for r in other for c in r] != [c.text for r in out for c in r]


def test_chains_do_not_depend_on_batch_size(engine, tiny_model_dir):
    """Issue 15 case 10: a chain is drawn from its own sample seed, whatever shares its batch."""
    cfg = GenerateConfig(n=2, max_new_tokens=12, temperature=1.0, top_p=0.9, top_k=20)
    reqs, seeds = _reqs(cfg, k=5)
    batched = engine.generate(reqs, seeds)  # batch_size 4: batches of 4 and 1
    single = HFEngine(tiny_model_dir, device="cpu", batch_size=1)
    try:
        alone = single.generate(reqs, seeds)
        shifted = single.generate(reqs[2:], seeds[2:])
    finally:
        single.close()
    assert [[c.text for c in r] for r in alone] == [[c.text for c in r] for r in batched]
    assert [[c.text for c in r] for r in shifted] == [[c.text for c in r] for r in batched[2:]]
    assert len({c.text for r in batched for c in r}) > 1  # really sampled


def test_stop_string_cuts_text_and_reports_stop(engine):
    sampled = GenerateConfig(n=1, max_new_tokens=24, temperature=1.0, top_p=1.0)
    reqs, seeds = _reqs(sampled, k=1)
    full = engine.generate(reqs, seeds)[0][0]
    assert full.finish_reason == "length"
    # a 3-character window (no whitespace, so it cannot join the prompt's tail) the model will produce
    # (ASCII letters and digits: a window holding half of a multi-byte character cannot match token strings)
    start = next(i for i in range(3, len(full.text) - 3)
                 if full.text[i:i + 3].isascii() and full.text[i:i + 3].isalnum())
    stop = full.text[start:start + 3]
    cfg = sampled.model_copy(update={"stop": [stop]})
    reqs2, _ = _reqs(cfg, k=1)
    got = engine.generate(reqs2, seeds)[0][0]
    assert got.finish_reason == "stop"
    assert got.text == full.text[:full.text.find(stop)] and stop not in got.text
    assert got.n_tokens < full.n_tokens


def test_greedy_batched_equals_one_at_a_time(engine):
    cfg = GenerateConfig(n=1, max_new_tokens=12, temperature=0.0)
    reqs, seeds = _reqs(cfg)
    batched = engine.generate(reqs, seeds)
    single = [engine.generate([r], [s])[0] for r, s in zip(reqs, seeds, strict=True)]
    assert [c.text for r in batched for c in r] == [c.text for r in single for c in r]
