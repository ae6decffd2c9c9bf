"""Selection in one streaming pass over chain shards and their verdict shards.

The loop's select stage reads ``generate/chains/shard-*.parquet`` and the verify stage's
``verify/verdicts/<shard>.<tag>.jsonl`` pairwise, one shard at a time: a problem's chains all
live in one shard (shards cut the sorted problem ids), so each problem is complete when its
shard is read and is handed to :class:`~limo_rl.select.select.Selection` at once. The driver
holds one shard of chains and verdicts, the bounded heaps of the selection and a small index
of the problems (id -> balance group, ~100 bytes each); the texts of the selected chains are
read back from their shards at the end, and their problems from the problems file.

A verdicts *file* (ad hoc ``limo-rl select --verdicts v.jsonl``) is read into memory first:
stream only from a verdict folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from limo_rl.config import SelectConfig
from limo_rl.data.io import DataError, iter_problems
from limo_rl.generate.shards import ShardError, read_shard, shard_files
from limo_rl.select.difficulty import pass_rates
from limo_rl.select.select import ProblemGroup, Ranked, SelectionResult, run_groups
from limo_rl.types import Chain, Problem, Verdict
from limo_rl.verify.stage import iter_verdict_rows, read_verdicts, verdict_files


def problem_index(path: str | Path, balance_by: str | None) -> dict[str, str]:
    """Problem id -> balance group ('' without balancing), streaming; a repeated id names both rows."""
    return {p.id: str(getattr(p, balance_by) or "unknown") if balance_by else ""
            for p in iter_problems(path, unique=True)}


def problems_by_id(path: str | Path, wanted: set[str]) -> dict[str, Problem]:
    """The problems of ``wanted`` ids, read back from the problems file (streaming)."""
    return {p.id: p for p in iter_problems(path) if p.id in wanted}


def _verdict_shards(verdicts_dir: Path) -> dict[str, list[Path]]:
    """Chain shard stem -> its verdict shard files (listed once: a glob per shard would be quadratic)."""
    out: dict[str, list[Path]] = {}
    for p in verdict_files(verdicts_dir) if verdicts_dir.is_dir() else []:
        out.setdefault(p.name.split(".", 1)[0], []).append(p)
    return out


def _verdict_shard(found: dict[str, list[Path]], verdicts_dir: Path, chain_shard: Path) -> Path | None:
    files = found.get(chain_shard.name.removesuffix(".parquet"), [])
    if len(files) > 1:
        raise DataError(f"{verdicts_dir}: {len(files)} verdict shards for {chain_shard.name} "
                        f"({', '.join(p.name for p in files)}): rerun the verify stage")
    return files[0] if files else None


def iter_groups(chains_dir: Path, verdicts: Path | Mapping[tuple[str, int], Verdict],
                index: Mapping[str, str]) -> Iterator[ProblemGroup]:
    """Every problem once: those with chains in shard order, then the rest (no chains, no verdicts)."""
    if not chains_dir.is_dir():
        raise ShardError(f"{chains_dir}: chains folder not found")
    seen: dict[str, str] = {}
    found = _verdict_shards(verdicts) if isinstance(verdicts, Path) else {}
    for shard in shard_files(chains_dir):
        chains = read_shard(shard)
        if isinstance(verdicts, Path):
            vpath = _verdict_shard(found, verdicts, shard)
            rows = dict(iter_verdict_rows(vpath)) if vpath is not None else {}
        else:
            rows = verdicts
        by_pid: dict[str, list[Chain]] = {}
        for c in chains:
            by_pid.setdefault(c.problem_id, []).append(c)
        for pid, cs in by_pid.items():
            if pid in seen:
                raise ShardError(f"{shard}: problem {pid!r} also in {seen[pid]} (mixed runs in one folder?)")
            seen[pid] = shard.name
            idx = [c.sample_index for c in cs]
            if len(set(idx)) != len(idx):
                raise ShardError(f"{shard}: problem {pid!r} repeats a sample index")
            got = {c.sample_index: rows[(pid, c.sample_index)] for c in cs if (pid, c.sample_index) in rows}
            yield ProblemGroup(pid, index.get(pid), cs, got, where=shard)
    for pid, group in index.items():
        if pid not in seen:
            yield ProblemGroup(pid, group, [], {})


def shard_texts(selected: Sequence[Ranked]) -> dict[tuple[str, int], str]:
    """Texts of the selected chains, each shard that holds one read once (its text and key columns)."""
    import pyarrow.parquet as pq

    wanted: dict[Path, set[tuple[str, int]]] = {}
    for r in selected:
        wanted.setdefault(r.where, set()).add((r.chain.problem_id, r.chain.sample_index))
    out = {}
    for shard, keys in wanted.items():
        table = pq.read_table(shard, columns=["problem_id", "sample_index", "text"])
        pids, idxs = table.column("problem_id").to_pylist(), table.column("sample_index").to_pylist()
        for row, key in enumerate(zip(pids, idxs, strict=True)):
            if key in keys:
                out[key] = table.column("text")[row].as_py()
    return out


def select_from_shards(
    problems_path: str | Path, chains_dir: str | Path, verdicts: str | Path, cfg: SelectConfig,
    system_prompt: str | None, out_dir: str | Path, *, seed: int = 0, weak_verdicts: str | Path | None = None,
    fits: Callable[[str, str], bool] | None = None,
) -> SelectionResult:
    """Select the SFT set streaming over shards; same outputs and figures as ``run_selection``;
    ``fits``: the length rule (see :class:`~limo_rl.select.select.Selection`)."""
    seed = cfg.seed if cfg.seed is not None else seed
    problems_path, verdicts = Path(problems_path), Path(verdicts)
    index = problem_index(problems_path, cfg.balance_by)
    source = verdicts if verdicts.is_dir() else read_verdicts(verdicts)
    weak = pass_rates(index, iter_verdict_rows(weak_verdicts)) if weak_verdicts is not None else None
    return run_groups(iter_groups(Path(chains_dir), source, index), cfg, system_prompt, Path(out_dir), seed=seed,
                      weak_rates=weak, problems=lambda ids: problems_by_id(problems_path, ids), texts=shard_texts,
                      fits=fits)
