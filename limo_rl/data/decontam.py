"""Benchmark decontamination by n-gram overlap.

A pool problem is contaminated when it shares a word n-gram with an item of a benchmark
the run evaluates on: 13-grams as in s1 (Muennighoff et al., 2025), 8-grams as in
open-r1's ``decontaminate.py``; the size is ``pool.decontaminate.ngram``. Both sides are
normalized first (:mod:`limo_rl.data.text`), so whitespace, LaTeX spellings and reworded
numbers ("five", "1,000") do not hide a copy. Texts shorter than n match on their whole
token sequence.

Two refinements over the plain rule, both recorded in the report:

* an n-gram that occurs in more than ``ignore_common`` items of one benchmark is that
  benchmark's boilerplate (GPQA repeats its answer instruction in all 198 items) and does
  not count, or every pool problem quoting the instruction would be removed;
* each removed problem is reported with the benchmark item it shares the most n-grams with.

Pure core: standard library only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from limo_rl.data.text import tokens
from limo_rl.types import Problem


@dataclass(frozen=True)
class Contamination:
    index: int  # position in the pool
    problem_id: str
    benchmark: str
    benchmark_id: str
    shared_ngrams: int
    pool_ngrams: int
    example: str  # one shared n-gram (normalized tokens)

    def to_report(self, pool: Problem, item: Problem) -> dict:
        return {
            "problem_id": self.problem_id, "benchmark": self.benchmark, "benchmark_id": self.benchmark_id,
            "shared_ngrams": self.shared_ngrams, "pool_ngrams": self.pool_ngrams, "example_ngram": self.example,
            "question": pool.question[:300], "benchmark_question": item.question[:300],
        }


def ngrams(toks: Sequence[str], n: int) -> set[tuple[str, ...]]:
    """Word n-grams; a text shorter than n contributes its whole sequence (tagged so it only meets its like)."""
    if len(toks) < n:
        return {("\0short", *toks)} if toks else set()
    return {tuple(toks[i: i + n]) for i in range(len(toks) - n + 1)}


class NgramIndex:
    """n-gram -> benchmark items holding it, with per-benchmark boilerplate removed."""

    def __init__(self, benchmarks: Mapping[str, Sequence[Problem]], n: int = 13, ignore_common: int | None = 5):
        self.n = n
        self.items: list[tuple[str, Problem]] = []
        self.index: dict[tuple[str, ...], list[int]] = {}
        self.ignored: dict[str, int] = {}
        for name in sorted(benchmarks):
            per: dict[tuple[str, ...], list[int]] = {}
            for p in benchmarks[name]:
                pos = len(self.items)
                self.items.append((name, p))
                for g in ngrams(tokens(p.question), n):
                    per.setdefault(g, []).append(pos)
            dropped = 0
            for g, where in per.items():
                if ignore_common is not None and g[0] != "\0short" and len(where) > ignore_common:
                    dropped += 1
                    continue
                self.index.setdefault(g, []).extend(where)
            self.ignored[name] = dropped

    def match(self, text: str, toks: list[str] | None = None) -> tuple[int, int, int, str] | None:
        """(item position, shared n-grams, pool n-grams, an example) of the best-matching item, or None."""
        grams = ngrams(tokens(text) if toks is None else toks, self.n)
        hits: Counter[int] = Counter()
        example: dict[int, tuple[str, ...]] = {}
        for g in grams:
            for pos in self.index.get(g, ()):
                hits[pos] += 1
                example.setdefault(pos, g)
        if not hits:
            return None
        pos, count = min(hits.items(), key=lambda kv: (-kv[1], kv[0]))
        g = example[pos]
        return pos, count, len(grams), " ".join(g[1:] if g[0] == "\0short" else g)


def find_contaminated(
    pool: Sequence[Problem], benchmarks: Mapping[str, Sequence[Problem]], *, n: int = 13,
    ignore_common: int | None = 5, pool_tokens: Sequence[list[str]] | None = None,
) -> tuple[list[Contamination], NgramIndex]:
    """Every pool problem that overlaps a benchmark item, with the item it matched best."""
    idx = NgramIndex(benchmarks, n, ignore_common)
    found = []
    for i, p in enumerate(pool):
        m = idx.match(p.question, None if pool_tokens is None else pool_tokens[i])
        if m is None:
            continue
        pos, count, total, example = m
        name, item = idx.items[pos]
        found.append(Contamination(i, p.id, name, item.id, count, total, example))
    return found, idx
