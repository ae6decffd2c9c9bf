"""Shard planning, atomic parquet shards, completeness checks, stale shards, and the ad hoc CLI config."""

from __future__ import annotations

import argparse

import pytest

from limo_rl.generate.shards import (
    COLUMNS,
    ShardError,
    plan_shards,
    read_chains,
    read_shard,
    set_aside_stale,
    shard_dropped,
    shard_is_complete,
    write_shard,
)
from limo_rl.types import Chain


def _chain(pid: str, j: int, **kw) -> Chain:
    base = dict(problem_id=pid, sample_index=j, round=1, teacher="t", engine="hf", seed=1000 + j,
                prompt_hash="ph", text=f"chain {pid}/{j} \\boxed{{1}}", n_tokens=5 + j, finish_reason="stop")
    return Chain(**{**base, **kw})


def test_plan_cuts_sorted_ids_and_keys_on_spec_and_prompts():
    hashes = {f"p{i}": f"h{i}" for i in (3, 1, 0, 2, 4)}
    plans = plan_shards(hashes, 2, "spec")
    assert [p.problem_ids for p in plans] == [("p0", "p1"), ("p2", "p3"), ("p4",)]
    assert len({p.name for p in plans}) == 3 and plans[0].name.startswith("shard-00000-")
    assert plan_shards(hashes, 2, "spec") == plans
    assert plan_shards(hashes, 2, "spec2")[0].key != plans[0].key
    changed = dict(hashes, p0="other")
    again = plan_shards(changed, 2, "spec")
    assert again[0].key != plans[0].key and again[1:] == plans[1:]
    with pytest.raises(ValueError):
        plan_shards(hashes, 0, "spec")


def test_shard_roundtrip_and_completeness(tmp_path):
    (plan,) = plan_shards({"a": "h", "b": "h"}, 2, "s")
    rows = [_chain(pid, j) for pid in ("a", "b") for j in range(2)]
    path = write_shard(tmp_path / plan.name, rows, {"shard_key": plan.key})
    assert read_shard(path) == rows
    assert shard_is_complete(path, plan, 2)
    assert not shard_is_complete(path, plan, 3)  # fewer rows than n asks
    (other,) = plan_shards({"a": "h", "b": "h"}, 2, "s2")
    assert not shard_is_complete(path, other, 2)  # another spec
    assert not shard_is_complete(tmp_path / "missing.parquet", plan, 2)
    path.write_bytes(b"not parquet")
    assert not shard_is_complete(path, plan, 2)
    assert not list(tmp_path.glob(".*tmp*"))


def test_read_chains_sorts_and_rejects_duplicates(tmp_path):
    write_shard(tmp_path / "shard-00001-x.parquet", [_chain("b", 1), _chain("b", 0)])
    write_shard(tmp_path / "shard-00000-y.parquet", [_chain("a", 0)])
    assert [(c.problem_id, c.sample_index) for c in read_chains(tmp_path)] == [("a", 0), ("b", 0), ("b", 1)]
    write_shard(tmp_path / "shard-00002-z.parquet", [_chain("a", 0)])
    with pytest.raises(ShardError, match=r"shard-00002-z.parquet.*\('a', 0\).*shard-00000-y"):
        read_chains(tmp_path)
    with pytest.raises(ShardError, match="not found"):
        read_chains(tmp_path / "nope")


def test_read_shard_names_file_row_and_field(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [_chain("a", 0).to_dict(), _chain("a", 1, finish_reason="eos").to_dict()]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "shard-bad.parquet")
    with pytest.raises(ShardError, match=r"shard-bad.parquet: row 2: field 'finish_reason'"):
        read_shard(tmp_path / "shard-bad.parquet")
    pq.write_table(pa.Table.from_pylist([{k: v for k, v in rows[0].items() if k != "seed"}]),
                   tmp_path / "shard-missing.parquet")
    with pytest.raises(ShardError, match="missing column.*seed"):
        read_shard(tmp_path / "shard-missing.parquet")
    assert set(COLUMNS) == set(rows[0])


def test_stale_shards_are_set_aside_not_deleted(tmp_path):
    write_shard(tmp_path / "shard-00000-keep.parquet", [_chain("a", 0)])
    write_shard(tmp_path / "shard-00000-old.parquet", [_chain("a", 0, text="old")])
    (tmp_path / ".shard-00001-new.parquet.tmp-1-2").write_bytes(b"half")
    moved = set_aside_stale(tmp_path, keep={"shard-00000-keep.parquet"})
    assert [p.name for p in moved] == ["shard-00000-old.parquet"] and moved[0].is_file()
    assert read_shard(moved[0])[0].text == "old"
    assert [c.text for c in read_chains(tmp_path)] == [_chain("a", 0).text]
    assert not list(tmp_path.glob(".shard-*.tmp-*"))


def _args(**kw) -> argparse.Namespace:
    from limo_rl.generate.cli import FLAG_TO_FIELD

    base = {a: None for a in FLAG_TO_FIELD} | dict(model="m", stop=None, system_prompt=None, base_url=None,
                                                    api_key_env=None)
    return argparse.Namespace(**(base | kw))


def test_adhoc_config_from_flags():
    from limo_rl.cli import UsageError
    from limo_rl.generate.cli import build_adhoc_config

    cfg = build_adhoc_config(_args(n=8, engine="openai", stop=["</a>"], system_prompt="", base_url="http://h/v1"))
    assert (cfg.n, cfg.engine, cfg.stop, cfg.system_prompt, cfg.openai.base_url) == (8, "openai", ["</a>"], None,
                                                                                     "http://h/v1")
    assert build_adhoc_config(_args()).n == 4  # schema default
    with pytest.raises(UsageError, match="--n"):
        build_adhoc_config(_args(n=0))


def test_a_shard_with_dropped_problems_is_complete_without_their_rows(tmp_path):
    """Problems dropped for an over-long prompt are recorded in the shard's metadata: the shard is complete
    with n rows for every other problem, and a resume neither regenerates nor loses them."""
    import json

    plan = plan_shards({"p0": "h0", "p1": "h1", "p2": "h2"}, 3, "spec")[0]
    rec = {"problem_id": "p1", "prompt_tokens": 5000, "max_new_tokens": 48, "limit": 2048}
    rows = [_chain(pid, j) for pid in ("p0", "p2") for j in range(2)]
    path = write_shard(tmp_path / plan.name, rows, {"shard_key": plan.key, "dropped": json.dumps([rec])})
    assert shard_is_complete(path, plan, 2) and shard_dropped(path) == [rec]
    write_shard(path, rows, {"shard_key": plan.key})  # the same rows without the record: a problem is missing
    assert not shard_is_complete(path, plan, 2) and shard_dropped(path) == []
    stranger = dict(rec, problem_id="p9")  # a record of a problem not in the shard
    write_shard(path, rows, {"shard_key": plan.key, "dropped": json.dumps([stranger, rec])})
    assert not shard_is_complete(path, plan, 2)
    write_shard(path, rows, {"shard_key": plan.key, "dropped": "not json"})
    assert not shard_is_complete(path, plan, 2)
    with pytest.raises(ShardError, match="'dropped' metadata"):
        shard_dropped(path)
    empty = write_shard(tmp_path / "all-dropped.parquet", [], {"shard_key": plan.key, "dropped": json.dumps(
        [dict(rec, problem_id=p) for p in plan.problem_ids])})
    assert shard_is_complete(empty, plan, 2) and read_shard(empty) == []
