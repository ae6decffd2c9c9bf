"""The hf engine's per-sample sampler: exact categorical draws, a row's stream independent of its batch."""

import math

import pytest

torch = pytest.importorskip("torch")

from limo_rl.generate.engines.hf import _PerSampleSampler  # noqa: E402


def _draw(seeds, logits, steps=1, **kw):
    s = _PerSampleSampler(seeds, kw.get("temperature", 1.0), kw.get("top_p", 1.0), kw.get("top_k", -1), "cpu")
    out = []
    for _ in range(steps):
        scores = s(None, logits.expand(len(seeds), -1).clone())
        assert torch.isfinite(scores).sum(dim=-1).eq(1).all()  # exactly one token kept per row
        out.append(scores.argmax(dim=-1))
    return torch.stack(out, dim=1)  # rows x steps


def test_draws_follow_the_softmax():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    n = 10_000
    tokens = _draw(list(range(n)), probs.log()[None, :])[:, 0]  # one draw per seed
    freq = torch.bincount(tokens, minlength=4).double() / n
    for f, p in zip(freq.tolist(), probs.tolist(), strict=True):
        assert abs(f - p) < 4 * math.sqrt(p * (1 - p) / n), (freq, probs)
    along = _draw([7], probs.log()[None, :], steps=4_000)[0]  # one seed, many steps
    freq = torch.bincount(along, minlength=4).double() / along.numel()
    for f, p in zip(freq.tolist(), probs.tolist(), strict=True):
        assert abs(f - p) < 4 * math.sqrt(p * (1 - p) / along.numel()), (freq, probs)


def test_temperature_top_k_and_top_p_restrict_the_draw():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    assert set(_draw(list(range(2000)), logits, top_k=2)[:, 0].tolist()) == {0, 1}
    assert set(_draw(list(range(2000)), logits, top_p=0.5)[:, 0].tolist()) == {0}  # p(token 0) = 0.64
    cold = _draw(list(range(2000)), logits, temperature=0.05)[:, 0]
    assert cold.eq(0).float().mean() > 0.99


def test_a_rows_tokens_do_not_depend_on_its_batch():
    logits = torch.randn(1, 50, generator=torch.Generator().manual_seed(0))
    alone = _draw([123456789012], logits, steps=30)
    crowd = _draw([5, 123456789012, 99, 2**40 + 3], logits, steps=30)
    assert torch.equal(alone[0], crowd[1])
    assert not torch.equal(crowd[0], crowd[2])  # different seeds, different streams
    again = _draw([123456789012], logits, steps=30)
    assert torch.equal(alone, again)
