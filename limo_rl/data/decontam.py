"""Benchmark decontamination by n-gram overlap.

A trained-on item (a pool problem, a static-set row) is contaminated when it shares a word
n-gram with an item of a benchmark the run evaluates on (test or dev): 8-grams as in open-r1's
``decontaminate.py`` (the default), 13-grams as in s1 (Muennighoff et al., 2025); the size is
``pool.decontaminate.ngram``. Questions are compared with questions and, with ``answer`` in
``fields``, the item's solution or answer text with the benchmark item's question and
solution or answer, so a training chain that copies a benchmark solution is caught too. Both sides are
normalized first (:mod:`limo_rl.data.text`), so whitespace, LaTeX spellings and reworded
numbers ("five", "1,000") do not hide a copy. A question shorter than n matches on its whole
token sequence; solution and answer texts count only through full n-grams (a bare "42" is no
evidence of a copy).

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

from limo_rl.data.io import DataError
from limo_rl.data.text import tokens
from limo_rl.types import Problem


class ContaminationError(DataError):
    """A set the run trains on overlaps a benchmark it evaluates on; the message lists the matches."""


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


def answer_text(p: Problem) -> str:
    """The text an item teaches beyond its question: its solution, else its answer."""
    return p.solution or p.answer or ""


def full_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    toks = tokens(text)
    return {tuple(toks[i: i + n]) for i in range(len(toks) - n + 1)}


class NgramIndex:
    """n-gram -> benchmark items holding it, with per-benchmark boilerplate removed."""

    def __init__(self, benchmarks: Mapping[str, Sequence[Problem]], n: int = 13, ignore_common: int | None = 5,
                 answers: bool = False):
        self.n = n
        self.items: list[tuple[str, Problem]] = []
        self.index: dict[tuple[str, ...], list[int]] = {}
        self.ignored: dict[str, int] = {}
        for name in sorted(benchmarks):
            per: dict[tuple[str, ...], list[int]] = {}
            for p in benchmarks[name]:
                pos = len(self.items)
                self.items.append((name, p))
                grams = ngrams(tokens(p.question), n)
                if answers:
                    grams |= full_ngrams(answer_text(p), n)
                for g in grams:
                    per.setdefault(g, []).append(pos)
            dropped = 0
            for g, where in per.items():
                if ignore_common is not None and g[0] != "\0short" and len(where) > ignore_common:
                    dropped += 1
                    continue
                self.index.setdefault(g, []).extend(where)
            self.ignored[name] = dropped

    def match(self, text: str, toks: list[str] | None = None, extra: str = "") -> tuple[int, int, int, str] | None:
        """(item position, shared n-grams, pool n-grams, an example) of the best-matching item, or None.

        ``extra``: further text of the item (its solution or answer), counted through full n-grams only.
        """
        grams = ngrams(tokens(text) if toks is None else toks, self.n)
        if extra:
            grams |= full_ngrams(extra, self.n)
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
    pool: Sequence[Problem], benchmarks: Mapping[str, Sequence[Problem]], *, n: int = 8,
    ignore_common: int | None = 5, pool_tokens: Sequence[list[str]] | None = None,
    fields: Sequence[str] = ("question",),
) -> tuple[list[Contamination], NgramIndex]:
    """Every pool problem that overlaps a benchmark item, with the item it matched best.

    ``fields``: ``question`` always; with ``answer`` the solution/answer texts of both sides take part.
    """
    answers = "answer" in fields
    idx = NgramIndex(benchmarks, n, ignore_common, answers=answers)
    found = []
    for i, p in enumerate(pool):
        m = idx.match(p.question, None if pool_tokens is None else pool_tokens[i],
                      answer_text(p) if answers else "")
        if m is None:
            continue
        pos, count, total, example = m
        name, item = idx.items[pos]
        found.append(Contamination(i, p.id, name, item.id, count, total, example))
    return found, idx


def require_clean(
    name: str, items: Sequence[Problem], benchmarks: Mapping[str, Sequence[Problem]], *, n: int = 8,
    ignore_common: int | None = 5, fields: Sequence[str] = ("question", "answer"), allow: Sequence[str] = (),
) -> list[dict]:
    """Report rows of ``items`` overlapping ``benchmarks``; raises ContaminationError unless each is allowed.

    Unlike the pool (where a contaminated problem is simply removed), a fixed training set such as the
    LIMO 817 is the object of the comparison: a silent cut would change it, a silent keep would leak
    the test set. So any match stops the run, listing them, unless its id is in ``allow``.
    """
    found, idx = find_contaminated(items, benchmarks, n=n, ignore_common=ignore_common, fields=fields)
    by_item = {(bench, p.id): p for bench, p in idx.items}
    rows = [{**c.to_report(items[c.index], by_item[(c.benchmark, c.benchmark_id)]),
             "allowed": c.problem_id in set(allow)} for c in found]
    bad = [r for r in rows if not r["allowed"]]
    if bad:
        shown = "\n".join(f"  - {r['problem_id']} ~ {r['benchmark']}:{r['benchmark_id']} ({r['shared_ngrams']} shared "
                          f"{n}-grams, e.g. {r['example_ngram']!r})" for r in bad[:20])
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise ContaminationError(
            f"{name}: {len(bad)} item(s) overlap an evaluated benchmark ({n}-grams over {', '.join(fields)}):\n"
            f"{shown}{more}\nRemove them from the set, or allow them by id (loop.static.allow_contaminated) to "
            "train on them knowingly.")
    return rows
