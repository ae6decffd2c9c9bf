"""Control SFT sets: the loop's last round with one factor taken away, matched to it in examples.

Why: a student trained on the loop's verified chains can gain for reasons that have nothing to do with
verification (on the toy world a teacher whose greedy habit is a bare answer gains from *any* set that
writes steps). A control is a set that keeps the loop's size, problems and style and removes one thing;
trained and evaluated exactly like the loop's student, the paired verdict "loop vs control" is what that
thing bought. Each control is built from the run's own last loop round (its teacher's chains and
verdicts, and the problems its selection kept), one example per example of the loop's set:

* ``own_incorrect``: the same teacher's chains judged *incorrect* that finished (an extracted answer,
  ``finish_reason == "stop"``) and write work (:func:`writes_steps`: not a bare answer): correctness
  removed, source and style kept. For each loop example the unused chain of the same problem closest in
  length is taken; when a problem has too few, the nearest in length from the round's other problems
  (counted: ``on_loop_problems`` / ``from_other_problems``). Identical texts of a problem count once;
* ``terse_correct``: ``\\boxed{gold}`` alone on the loop example's problem: the right answer without work;
* ``format_only``: the right procedure on perturbed operands (the answer is wrong for the question asked),
  style-matched to the loop example, written by the world (``format_chain`` of a generated source in
  :mod:`limo_rl.resolve`); only a world that can write such chains offers it.

* ``gold_steps``, ``gold_verified``, ``gold_hollow``, ``gold_caught``: the world's right procedure on the
  loop example's problem with no check, a true check, a check that verifies nothing, and a false step a true
  check catches and a redo corrects (:mod:`limo_rl.toy.gold`). Against each other they price a check
  (``gold_verified`` vs ``gold_steps``), a hollow one, a caught slip, with content and problems fixed;
* ``random``, ``window``, ``unsolved``, ``easy`` (problem-set arms): only *which problems* differ. Each takes
  the round's sampled problems (those with verdicts) in one seeded order and keeps those of its kind: all
  (``random``), the recipe's pass-rate window (``select.difficulty``), those the teacher never solved
  (``unsolved``), those it solved in at least :data:`EASY_RATE` of its samples (``easy``); the loop's
  distinct problems are mapped in order onto the first of them, and each loop example gets the world's right
  procedure in its style (``styled``: a check when the loop example has one). ``window`` vs ``random`` is
  what the difficulty window bought with chain source and style fixed.

Nothing here needs a toy world except ``format_only``, the gold controls and the problem-set arms (a world
that writes the chains: ``control_chain`` of a generated source); the first two work on any round's chains
at any scale. The match is in examples (the realised count and any shortfall are recorded); lengths are matched
per example in characters, the tokenizer-free proxy of tokens. Pure core (no torch, ray or trl): the
thin file adapter :func:`control_set_from_round` streams the round's shards through
:func:`limo_rl.select.stream.iter_groups`, one shard at a time, keeping no chain text but the chosen ones.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limo_rl.config.schema import CONTROL_NAMES, DifficultyConfig
from limo_rl.data.static import sft_example
from limo_rl.generate.shards import read_shard
from limo_rl.run.artifacts import read_jsonl
from limo_rl.select.difficulty import PassRate, in_window, pass_rates
from limo_rl.select.select import ProblemGroup
from limo_rl.select.stream import iter_groups, problem_index, problems_by_id
from limo_rl.types import Chain, ChainRef, Problem, SFTExample, Verdict
from limo_rl.verify.stage import iter_verdict_rows

FormatWriter = Callable[[str, str, int], str]  # (question, the chain it stands in for, seed) -> chain text
# (kind, question, the chain it stands in for, seed) -> chain text: the world's writer (limo_rl.toy.gold.control_chain)
ControlWriter = Callable[[str, str, str, int], str]
GOLD_CONTROLS = ("gold_steps", "gold_verified", "gold_hollow", "gold_caught")
PROBLEM_CONTROLS = ("random", "window", "unsolved", "easy")
WORLD_CONTROLS = ("format_only", *GOLD_CONTROLS, *PROBLEM_CONTROLS)  # need a world that writes chains
EASY_RATE = 0.875  # "almost always solved": at least 7 of 8 samples right
# control -> the control it is compared with in a run's report (besides the loop's last round): one factor apart
CONTROL_REFERENCES = {"gold_verified": "gold_steps", "gold_hollow": "gold_steps", "gold_caught": "gold_steps",
                      "window": "random", "unsolved": "random", "easy": "random"}


@dataclass(frozen=True)
class LoopExample:
    """One example of the loop's set, as a control matches it: its problem and its assistant text."""

    problem_id: str
    text: str


@dataclass(frozen=True)
class Candidate:
    """An ``own_incorrect`` candidate: a chain's key and length (its text stays in its shard)."""

    problem_id: str
    sample_index: int
    round: int
    chars: int
    where: Any = None  # the shard that holds its text


def writes_steps(text: str, min_lines: int = 2) -> bool:
    """True when a chain writes work: at least ``min_lines`` non-empty lines besides the one that boxes its
    answer (a bare ``The answer is \\boxed{7}.`` writes none)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and "\\boxed" not in ln]
    return len(lines) >= min_lines


def is_own_incorrect(chain: Chain, verdict: Verdict) -> bool:
    """An incorrect chain that finished with an answer and writes work (see the module docstring)."""
    return (not verdict.correct and verdict.status == "ok" and chain.finish_reason == "stop"
            and writes_steps(chain.text))


def collect_candidates(groups: Iterable[ProblemGroup]) -> list[Candidate]:
    """The ``own_incorrect`` candidates of a round, one per distinct text of a problem."""
    out = []
    for g in groups:
        seen: set[str] = set()
        for c in g.chains:
            v = g.verdicts.get(c.sample_index)
            if v is None or not is_own_incorrect(c, v):
                continue
            digest = hashlib.sha256(c.text.encode("utf-8")).hexdigest()
            if digest not in seen:
                seen.add(digest)
                out.append(Candidate(c.problem_id, c.sample_index, c.round, len(c.text), g.where))
    return out


def _tie(seed: int, c: Candidate) -> str:
    return hashlib.sha256(f"{seed}/{c.problem_id}/{c.sample_index}".encode()).hexdigest()


def match_incorrect(loop: Sequence[LoopExample], candidates: Sequence[Candidate], seed: int = 0,
                    ) -> tuple[list[Candidate | None], dict[str, int]]:
    """Per loop example, a distinct candidate: the same problem's closest in length, else the nearest in
    length of the rest (None when none is left). Returns (the choice per example, counts)."""
    by_pid: dict[str, list[Candidate]] = {}
    for c in sorted(candidates, key=lambda c: _tie(seed, c)):
        by_pid.setdefault(c.problem_id, []).append(c)
    used: set[tuple[str, int]] = set()
    chosen: list[Candidate | None] = [None] * len(loop)
    for i, ex in enumerate(loop):
        free = [c for c in by_pid.get(ex.problem_id, []) if (c.problem_id, c.sample_index) not in used]
        if free:
            best = min(free, key=lambda c: abs(c.chars - len(ex.text)))
            chosen[i] = best
            used.add((best.problem_id, best.sample_index))
    same = sum(c is not None for c in chosen)
    rest = sorted((c for c in candidates if (c.problem_id, c.sample_index) not in used),
                  key=lambda c: (c.chars, _tie(seed, c)))
    lengths = [c.chars for c in rest]
    for i, ex in enumerate(loop):
        if chosen[i] is not None or not rest:
            continue
        j = bisect.bisect_left(lengths, len(ex.text))
        j = min((k for k in (j - 1, j) if 0 <= k < len(rest)), key=lambda k: abs(lengths[k] - len(ex.text)))
        chosen[i] = rest.pop(j)
        lengths.pop(j)
    other = sum(c is not None for c in chosen) - same
    return chosen, {"on_loop_problems": same, "from_other_problems": other, "candidates": len(candidates)}


def terse_chain(gold: str) -> str:
    """The bare right answer, no work."""
    return f"\\boxed{{{gold}}}"


def problem_set(name: str, rates: Mapping[str, PassRate], window: DifficultyConfig | None = None,
                seed: int = 0) -> list[str]:
    """The problems a problem-set arm draws from, in one seeded order shared by all four arms (so ``random``
    and ``window`` overlap wherever the window keeps a problem): ``rates`` are the round's pass rates."""
    order = sorted(rates, key=lambda pid: hashlib.sha256(f"{seed}/{pid}".encode()).hexdigest())
    if name == "random":
        return order
    if name == "window":
        cfg = window or DifficultyConfig()
        return [pid for pid in order if in_window(rates[pid], cfg) is None]
    if name == "unsolved":
        return [pid for pid in order if rates[pid].samples and rates[pid].correct == 0]
    if name == "easy":
        return [pid for pid in order if rates[pid].samples and rates[pid].rate >= EASY_RATE]
    raise ValueError(f"unknown problem-set control {name!r}; known: {', '.join(PROBLEM_CONTROLS)}")


def map_problems(loop: Sequence[LoopExample], chosen: Sequence[str]) -> list[str | None]:
    """Per loop example, the problem standing in for its problem: the loop's distinct problems, in order of
    first appearance, onto ``chosen`` in order (None when ``chosen`` runs out: a shortfall)."""
    distinct = list(dict.fromkeys(ex.problem_id for ex in loop))
    onto = dict(zip(distinct, chosen, strict=False))
    return [onto.get(ex.problem_id) for ex in loop]


def build_control(name: str, loop: Sequence[LoopExample], problems: Mapping[str, Problem],
                  system_prompt: str | None, *, seed: int = 0, candidates: Sequence[Candidate] = (),
                  texts: Callable[[Sequence[Candidate]], Mapping[tuple[str, int], str]] | None = None,
                  format_writer: FormatWriter | None = None, writer: ControlWriter | None = None,
                  rates: Mapping[str, PassRate] | None = None, window: DifficultyConfig | None = None,
                  ) -> tuple[list[SFTExample], dict[str, Any]]:
    """The control set ``name`` for the loop's set ``loop`` and a record of what was realised.

    ``problems`` holds every problem a chosen example may come from; ``candidates`` and ``texts`` (their
    texts, fetched once) serve ``own_incorrect``; ``format_writer`` (or ``writer``) serves ``format_only``;
    ``writer`` (the world's) serves the gold controls and the problem-set arms, which also need ``rates``
    (the round's pass rates per problem) and, for ``window``, the recipe's ``window``."""
    if name not in CONTROL_NAMES:
        raise ValueError(f"unknown control {name!r}; known: {', '.join(CONTROL_NAMES)}")
    source = f"control/{name}"
    record: dict[str, Any] = {"control": name, "match": "size", "match_target": len(loop)}
    out: list[SFTExample] = []
    if name == "own_incorrect":
        chosen, counts = match_incorrect(loop, candidates, seed)
        picked = [c for c in chosen if c is not None]
        body = dict(texts(picked)) if texts is not None and picked else {}
        record.update(counts)
        for i, c in enumerate(picked):
            out.append(sft_example(problems[c.problem_id], body[(c.problem_id, c.sample_index)], system_prompt,
                                   ex_id=f"{source}/{i}", source=source,
                                   chain_ref=str(ChainRef.of(c))))
    elif name == "terse_correct":
        for i, ex in enumerate(loop):
            p = problems[ex.problem_id]
            out.append(sft_example(p, terse_chain(p.answer), system_prompt, ex_id=f"{source}/{i}", source=source))
    elif name in GOLD_CONTROLS or name in PROBLEM_CONTROLS:
        if writer is None:
            raise ValueError(f"{name} needs a world that writes its chains (a generated pool source with "
                             "control_chain)")
        kind, pids = name, [ex.problem_id for ex in loop]
        if name in PROBLEM_CONTROLS:
            chosen = problem_set(name, rates or {}, window, seed)
            mapped = map_problems(loop, chosen)
            kind, pids = "styled", mapped
            loop_pids = {ex.problem_id for ex in loop}
            used = {p for p in mapped if p is not None}
            record.update({"sampled_problems": len(rates or {}), "eligible_problems": len(chosen),
                           "problems": len(used), "problems_target": len(loop_pids),
                           "on_loop_problems": len(used & loop_pids)})
        for i, (ex, pid) in enumerate(zip(loop, pids, strict=True)):
            if pid is None:
                continue
            p = problems[pid]
            text = writer(kind, p.question, ex.text, seed * 100_003 + i)
            out.append(sft_example(p, text, system_prompt, ex_id=f"{source}/{i}", source=source))
    else:
        if format_writer is None and writer is None:
            raise ValueError("format_only needs a world that writes the right procedure on perturbed operands "
                             "(a generated pool source with format_chain)")
        for i, ex in enumerate(loop):
            p = problems[ex.problem_id]
            at = seed * 100_003 + i
            text = format_writer(p.question, ex.text, at) if format_writer is not None else \
                writer("format_only", p.question, ex.text, at)  # type: ignore[misc]
            out.append(sft_example(p, text, system_prompt, ex_id=f"{source}/{i}", source=source))
    loop_chars = [len(ex.text) for ex in loop]
    own_chars = [len(e.messages[-1]["content"]) for e in out]
    record.update({"examples": len(out), "shortfall": len(loop) - len(out),
                   "mean_chars": {"loop": _mean(loop_chars), "control": _mean(own_chars)}})
    return out, record


def _mean(xs: Sequence[int]) -> float | None:
    return round(sum(xs) / len(xs), 1) if xs else None


# ---------------------------------------------------------------------------------------- file adapter
def loop_examples(sft_files: Sequence[str | Path]) -> list[LoopExample]:
    """The loop's set as a control matches it (every file the last round trained on, in order)."""
    out = []
    for f in sft_files:
        for row in read_jsonl(f):
            ex = SFTExample.from_dict(row)
            out.append(LoopExample(ex.problem_id, ex.messages[-1]["content"] if ex.messages else ""))
    return out


def shard_texts(chosen: Sequence[Candidate]) -> dict[tuple[str, int], str]:
    """The texts of the chosen candidates, each shard that holds one read once."""
    wanted: dict[Path, set[tuple[str, int]]] = {}
    for c in chosen:
        wanted.setdefault(Path(c.where), set()).add((c.problem_id, c.sample_index))
    out = {}
    for shard, keys in wanted.items():
        for ch in read_shard(shard):
            if (ch.problem_id, ch.sample_index) in keys:
                out[(ch.problem_id, ch.sample_index)] = ch.text
    return out


def control_set_from_round(name: str, sft_files: Sequence[str | Path], problems_path: str | Path,
                           chains_dir: str | Path, verdicts: str | Path, system_prompt: str | None, *,
                           seed: int = 0, format_writer: FormatWriter | None = None,
                           writer: ControlWriter | None = None, window: DifficultyConfig | None = None,
                           ) -> tuple[list[SFTExample], dict[str, Any]]:
    """:func:`build_control` on a round's files: its SFT set(s), problems, chain shards and verdict shards."""
    loop = loop_examples(sft_files)
    candidates: list[Candidate] = []
    rates: dict[str, PassRate] | None = None
    wanted = {ex.problem_id for ex in loop}
    if name == "own_incorrect":
        index = problem_index(problems_path, None)
        candidates = collect_candidates(iter_groups(Path(chains_dir), Path(verdicts), index))
        wanted |= {c.problem_id for c in candidates}
    if name in PROBLEM_CONTROLS:
        rates = pass_rates(problem_index(problems_path, None), iter_verdict_rows(verdicts))
        wanted |= set(rates)
    problems = problems_by_id(problems_path, wanted)
    return build_control(name, loop, problems, system_prompt, seed=seed, candidates=candidates,
                         texts=shard_texts, format_writer=format_writer, writer=writer, rates=rates, window=window)
