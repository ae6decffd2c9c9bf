"""LIMO's rule-based chain quality score (Ye et al., "LIMO: Less is More for Reasoning", v3).

LIMO ranks correct chains by four features, each a keyword frequency normalized by text
length except the first, weighted 30/20/25/25:

* elaborated reasoning: length (longer, more detailed chains);
* self-verification: "check", "verify" (and their forms);
* exploratory approach: "perhaps", "might" (tentative alternatives considered);
* adaptive granularity: "therefore", "since" (explicit logical connectives).

To combine them each feature is mapped to [0, 1]: length as ``n_tokens / ELABORATION_REF``
capped at 1, keyword features as occurrences per 1,000 tokens over a saturation rate
(:data:`SATURATION_PER_1K`) capped at 1. The raw per-1k rates are reported too, so a
different normalization can be applied downstream. Weights come from
``VerifyConfig.quality_weights``; the score is the weighted mean (weights need not sum to 1).

Pure core: standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

ELABORATION_REF = 4096  # tokens at which "elaborated reasoning" saturates
SATURATION_PER_1K = {"self_verification": 4.0, "exploration": 4.0, "granularity": 8.0}
DEFAULT_WEIGHTS = {"elaboration": 0.30, "self_verification": 0.20, "exploration": 0.25, "granularity": 0.25}

_KEYWORDS = {  # matched against lower-cased text
    "self_verification": re.compile(r"\b(?:check(?:s|ed|ing)?|verif(?:y|ies|ied|ying|ication))\b"),
    "exploration": re.compile(r"\b(?:perhaps|might|maybe|alternatively)\b"),
    "granularity": re.compile(r"\b(?:therefore|since|thus|hence)\b"),
}


def quality_features(text: str, n_tokens: int, weights: Mapping[str, float] | None = None) -> tuple[dict[str, float], float]:
    """(features, score): the four normalized features, their raw per-1k rates, and the weighted score."""
    w = dict(DEFAULT_WEIGHTS)
    if weights:
        w.update({k: float(v) for k, v in weights.items() if k in DEFAULT_WEIGHTS})
    tokens = max(1, int(n_tokens))
    feats: dict[str, float] = {"elaboration": min(1.0, tokens / ELABORATION_REF)}
    low = text.lower()
    for name, pattern in _KEYWORDS.items():
        rate = 1000.0 * len(pattern.findall(low)) / tokens
        feats[f"{name}_per_1k"] = rate
        feats[name] = min(1.0, rate / SATURATION_PER_1K[name])
    total = sum(w.values())
    score = sum(w[k] * feats[k] for k in DEFAULT_WEIGHTS) / total if total > 0 else 0.0
    return feats, score
