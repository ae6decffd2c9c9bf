"""Exact and near-duplicate removal for problem pools.

Exact: two problems are the same when their normalized token strings are equal
(:func:`limo_rl.data.text.canonical`). Near: word k-shingle sets compared by Jaccard
similarity, found with MinHash + LSH banding (Broder 1997; the scheme of datatrove and
text-dedup) and then *confirmed* with the exact Jaccard of the two shingle sets, so the
recipe's threshold is the real cut, not a sketch estimate. The first occurrence is kept;
every removed problem is reported with the kept problem it duplicates.

MinHash is vectorized with numpy (multiply-shift hashing, ``(a*h + b) mod 2^64 >> 32``, over
CRC-32 shingle hashes; Dietzfelbinger et al. 1997), which keeps 100k problems within seconds on one core.
Pure core: numpy and the standard library.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from limo_rl.data.text import canonical, tokens

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Duplicate:
    index: int  # position of the removed text
    kept: int  # position of the earlier text it duplicates
    kind: str  # "exact" or "near"
    similarity: float


def shingles(toks: Sequence[str], k: int) -> set[str]:
    if len(toks) <= k:
        return {" ".join(toks)} if toks else set()
    return {" ".join(toks[i: i + k]) for i in range(len(toks) - k + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows), bands*rows <= num_perm, whose S-curve midpoint (1/b)^(1/r) sits ~0.1 under the threshold.

    Leaning low makes a pair right at the threshold a candidate with probability ~0.95 instead
    of ~0.6; the extra candidates cost one exact Jaccard each and never change the result.
    """
    target = max(0.3, threshold - 0.1)
    options = [(num_perm // rows, rows) for rows in range(1, num_perm + 1)]
    return min(options, key=lambda br: (abs((1.0 / br[0]) ** (1.0 / br[1]) - target), br[1]))


def minhash_signatures(shingle_sets: Sequence[set[str]], num_perm: int = 64, seed: int = 1) -> np.ndarray:
    """(n, num_perm) uint64 MinHash signatures; an empty set gets all-max (it matches nothing)."""
    import numpy as np  # lazily: the CLI imports this module for every command, `--help` included

    rng = np.random.default_rng(seed)
    a = rng.integers(1, 1 << 63, size=num_perm, dtype=np.uint64) | np.uint64(1)  # odd multipliers
    b = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64)
    n = len(shingle_sets)
    sig = np.full((n, num_perm), np.iinfo(np.uint64).max, dtype=np.uint64)
    lengths = np.fromiter((len(s) for s in shingle_sets), dtype=np.int64, count=n)
    per_chunk = max(1, 2_000_000 // num_perm)  # shingles per block: bounds memory at ~16 MB x 2
    doc = 0
    while doc < n:
        # A block of whole documents, so each document's minimum is one reduceat segment.
        end, size = doc, 0
        while end < n and (size == 0 or size + lengths[end] <= per_chunk):
            size += int(lengths[end])
            end += 1
        block = shingle_sets[doc:end]
        if size:
            h = np.fromiter((zlib.crc32(x.encode()) for st in block for x in st), dtype=np.uint64, count=size)
            # (num_perm, shingles): each permutation's row is contiguous for reduceat.
            perm = (a[:, None] * h[None, :] + b[:, None]) >> np.uint64(32)
            nonempty = np.nonzero(lengths[doc:end])[0]
            offsets = np.concatenate(([0], np.cumsum(lengths[doc:end][nonempty])[:-1]))
            sig[doc + nonempty] = np.minimum.reduceat(perm, offsets, axis=1).T
        doc = end
    return sig


def find_duplicates(
    texts: Sequence[str], *, exact: bool = True, near_threshold: float | None = 0.8, shingle: int = 5,
    num_perm: int = 64, toks: Sequence[list[str]] | None = None,
) -> list[Duplicate]:
    """Duplicates among ``texts`` in input order; the first of each group is kept.

    ``toks``: the texts' :func:`~limo_rl.data.text.tokens`, when the caller already has them.
    """
    toks = [tokens(t) for t in texts] if toks is None else toks
    dups: dict[int, Duplicate] = {}
    if exact:
        first: dict[str, int] = {}
        for i, tk in enumerate(toks):
            key = " ".join(tk) if tk else canonical(texts[i])
            if key in first:
                dups[i] = Duplicate(i, first[key], "exact", 1.0)
            else:
                first[key] = i
    if near_threshold is not None:
        live = [i for i in range(len(texts)) if i not in dups]
        sets = [shingles(toks[i], shingle) for i in live]
        sig = minhash_signatures(sets, num_perm)
        bands, rows = lsh_params(near_threshold, num_perm)
        buckets: list[dict[bytes, list[int]]] = [{} for _ in range(bands)]
        for pos, i in enumerate(live):
            if not sets[pos]:
                continue
            candidates: set[int] = set()
            keys = []
            for band in range(bands):
                key = sig[pos, band * rows: (band + 1) * rows].tobytes()
                keys.append(key)
                candidates.update(buckets[band].get(key, ()))
            match = None
            for cpos in sorted(candidates):
                sim = jaccard(sets[pos], sets[cpos])
                if sim >= near_threshold:
                    match = Duplicate(i, live[cpos], "near", sim)
                    break
            if match is not None:
                dups[i] = match
                continue
            for band, key in enumerate(keys):
                buckets[band].setdefault(key, []).append(pos)
    return [dups[i] for i in sorted(dups)]
