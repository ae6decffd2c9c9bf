"""Chain features: the Verdict fields that depend only on the chain, not on its answer.

A chain that claims a check its own arithmetic contradicts is worse than one that claims none:
each false check multiplies the LIMO score by :data:`FALSE_CHECK_FACTOR`, and the density counts
true checks only, so density selection can never prefer a false check to a true one.

Verification steps and density, true / false / hollow checks and arithmetic consistency
(:mod:`.density`), and LIMO's quality features and score (:mod:`.quality`). Kept apart from
:mod:`.grade` so the worker processes (:mod:`._worker`) compute them without importing the
grader that drives them.
"""

from __future__ import annotations

from typing import Any

from limo_rl.config import VerifyConfig
from limo_rl.verify.density import analyze, approx_tokens
from limo_rl.verify.quality import quality_features

FALSE_CHECK_FACTOR = 0.5  # each false check halves the chain's score: claimed verification that is wrong


def chain_features(text: str, n_tokens: int | None, cfg: VerifyConfig) -> dict[str, Any]:
    """The Verdict fields that depend only on the chain: steps, density, checks, consistency, quality, score."""
    rep = analyze(text, n_tokens)
    feats, score = quality_features(text, rep.n_tokens, cfg.quality_weights.model_dump())
    feats["verification_per_paragraph"] = rep.per_paragraph
    feats["n_tokens"] = float(rep.n_tokens)
    feats["true_checks"] = float(rep.true_checks)
    feats["false_checks"] = float(rep.false_checks)
    feats["hollow_checks"] = float(rep.n_hollow)
    feats["caught"] = float(rep.caught)
    feats["uncaught_false"] = float(rep.uncaught_false)
    score *= FALSE_CHECK_FACTOR ** rep.false_checks
    return {
        "verification_steps": rep.steps,
        "verification_density": rep.density,
        "arithmetic_consistency": rep.arithmetic_consistency,
        "quality": feats,
        "score": score,
    }


def cheap_features(text: str, n_tokens: int | None, cfg: VerifyConfig) -> dict[str, Any]:
    """What is left when the full analysis ran out of time in a worker: the linear-time quality features
    only (no steps, density 0), so a pathological chain is never recomputed unbounded in-process."""
    tokens = n_tokens if n_tokens and n_tokens > 0 else approx_tokens(text[:200_000])
    feats, score = quality_features(text[:200_000], tokens, cfg.quality_weights.model_dump())
    feats["n_tokens"] = float(tokens)
    feats["features_incomplete"] = 1.0
    return {"verification_steps": (), "verification_density": 0.0, "arithmetic_consistency": None,
            "quality": feats, "score": score}
