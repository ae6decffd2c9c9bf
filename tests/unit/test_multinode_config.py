"""Multi-node settings (issue 20): node-pinning resources, run-folder URIs, the shared-storage verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from limo_rl.config import RecipeError, load_recipe
from limo_rl.generate.pool import fit_actors
from limo_rl.run.storage import unreadable_nodes
from limo_rl.runtime.cluster import nodes_from_ray


def test_resources_pin_generate_and_train():
    r = load_recipe(None, ["generate.resources={gpu_pool: 1}", "train.resources={trainer: 0.5, big: 2}"])
    assert r.generate.resources == {"gpu_pool": 1.0}
    assert r.train.resources == {"trainer": 0.5, "big": 2.0}
    assert load_recipe(None).train.resources == {}


@pytest.mark.parametrize("override,fragment", [
    ("train.resources={CPU: 2}", "built-in Ray resource"),
    ("generate.resources={GPU: 1}", "built-in Ray resource"),
    ("generate.resources={pool: 0}", "must be positive"),
    ("train.resources={pool: -1}", "must be positive"),
])
def test_bad_resources_are_named(override, fragment):
    with pytest.raises(RecipeError) as e:
        load_recipe(None, [override])
    assert fragment in str(e.value) and override.split("=")[0] in str(e.value)


@pytest.mark.parametrize("uri", ["s3://bucket/runs", "gs://bucket/runs/", "s3://bucket"])
def test_object_store_output_dir_is_accepted(uri):
    # a run store (limo_rl.run.objectstore), not a local folder named "s3:"
    assert load_recipe(None, [f"run.output_dir={uri}"]).run.output_dir == uri.rstrip("/")


@pytest.mark.parametrize("uri", ["hdfs://nn/runs", "file:///tmp/x", "s3://"])
def test_other_uri_output_dir_is_refused_in_one_line(uri):
    with pytest.raises(RecipeError) as e:
        load_recipe(None, [f"run.output_dir={uri}"])
    msg = str(e.value)
    assert "run.output_dir" in msg and ("s3://bucket/prefix" in msg)


@pytest.mark.parametrize("path", ["runs", "/mnt/shared/runs", "./a:b/runs"])
def test_local_output_dirs_pass(path):
    assert load_recipe(None, [f"run.output_dir={path}"]).run.output_dir == path


def nodes(*resources):
    """Cluster nodes as ray.nodes() describes them (the cluster itself is the boundary here)."""
    return nodes_from_ray([{"Alive": True, "NodeID": f"n{i}", "NodeManagerAddress": f"10.0.0.{i}",
                            "Resources": r} for i, r in enumerate(resources)])


def test_custom_resource_limits_actor_count():
    cluster = [n.resources for n in nodes({"CPU": 8}, {"CPU": 8, "gen_node": 2})]
    assert fit_actors(10, 1.0, 0.0, cluster, {"gen_node": 1}) == 2  # only the second node has gen_node
    assert fit_actors(4, 1.0, 0.0, cluster) == 4


def test_missing_custom_resource_fits_no_actor():
    assert fit_actors(10, 1.0, 0.0, [n.resources for n in nodes({"CPU": 16})], {"gen_node": 1}) == 0


def test_unreadable_nodes_names_each_failure():
    results = [("a" * 20, "tok", ""), ("b" * 20, None, "FileNotFoundError: no such file"),
               ("c" * 20, "other", "")]
    bad = unreadable_nodes(results, "tok", {"b" * 20: "10.0.0.2", "c" * 20: "10.0.0.3"})
    assert len(bad) == 2
    assert "bbbbbbbbbbbb (10.0.0.2): FileNotFoundError" in bad[0]
    assert "cccccccccccc (10.0.0.3): a different file" in bad[1]
    assert unreadable_nodes(results[:1], "tok", {}) == []


def test_world_models_of_an_object_store_run_are_built_in_the_node_cache(monkeypatch, tmp_path):
    from limo_rl.resolve import model_cache_dir
    from limo_rl.run.objectstore import WORK_ENV

    monkeypatch.setenv(WORK_ENV, str(tmp_path / "wc"))
    assert model_cache_dir("toy", "s3://bucket/runs") == tmp_path / "wc" / ".cache" / "toy"  # never a folder "s3:"
    assert model_cache_dir("toy", "runs") == Path("runs/.cache/toy")
