"""The command's Ray session: stages join it and never stop it; the shared-storage probe runs again when
nodes joined since the last one (an autoscaling cluster starts with its head alone, where there is nothing
to probe): when a stage first uses Ray, and right after a stage's wait for the autoscaler
(hardware.wait_for_nodes_s)."""

from __future__ import annotations

import ray

import limo_rl.run.storage as storage
import limo_rl.runtime.raysession as raysession
from limo_rl.runtime.cluster import Node, wait_for_resources


def _fake_cluster(monkeypatch, alive):
    probed = []
    live = lambda: sum(n["Alive"] for n in alive)  # noqa: E731
    monkeypatch.setattr(storage, "check_shared_storage", lambda run_dir: probed.append(live()) or live())
    monkeypatch.setattr(storage, "_watched", {})
    monkeypatch.setattr(ray, "nodes", lambda: list(alive))
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    return probed


def test_storage_is_probed_again_when_nodes_join(tmp_path, monkeypatch):
    alive = [{"NodeID": "head", "Alive": True}]
    probed = _fake_cluster(monkeypatch, alive)
    monkeypatch.setattr(raysession, "start_ray", lambda: False)
    monkeypatch.setattr(raysession, "guard_local_ray", lambda record: None)
    monkeypatch.setattr(raysession, "_is_working_copy", lambda run_dir: False)
    monkeypatch.setattr(raysession, "ray_initialized", lambda: False)  # nothing to shut down at the end
    with raysession.RaySession() as session:
        session.bind(tmp_path)
        raysession.ensure_ray()  # the head alone
        raysession.ensure_ray()
        assert probed == [1]
        alive += [{"NodeID": "gpu1", "Alive": True}, {"NodeID": "gpu2", "Alive": True},
                  {"NodeID": "gone", "Alive": False}]  # two GPU nodes joined (one gone)
        raysession.ensure_ray()
        raysession.ensure_ray()
        assert probed == [1, 3]  # probed once more, with every alive node
        alive[1] = {"NodeID": "gpu3", "Alive": True}  # a node replaced by another: as many alive, one new
        raysession.ensure_ray()
        assert probed == [1, 3, 3]
        session.bind(tmp_path)  # a new run in the same process is probed again
        raysession.ensure_ray()
        assert probed == [1, 3, 3, 3]


def test_a_wait_for_the_autoscaler_probes_the_nodes_it_brought(tmp_path, monkeypatch):
    """The stage that waited for nodes (generate, evaluate, train) has them probed before it places work there."""
    alive = [{"NodeID": "head", "Alive": True}]
    probed = _fake_cluster(monkeypatch, alive)
    storage.watch_shared(tmp_path)
    assert storage.probe_joined_nodes() == 1 and probed == [1]  # the head alone
    head = Node("head", "10.0.0.1", 4, 0, 16, {"CPU": 4})
    gpu = Node("gpu1", "10.0.0.2", 8, 8, 64, {"CPU": 8, "GPU": 8})
    polls = iter([[head], [head], [head, gpu]])

    def nodes_fn():
        nodes = next(polls)
        alive[:] = [{"NodeID": n.node_id, "Alive": True} for n in nodes]
        return nodes

    got = wait_for_resources([{"GPU": 8}], what="generate", wait_s=5, poll_s=0.01, nodes_fn=nodes_fn,
                             request=lambda bundles: None)
    assert [n.node_id for n in got] == ["head", "gpu1"]
    assert probed == [1, 2]  # the joined GPU node read the probe before the stage used it
    storage.forget_shared()
    assert storage.probe_joined_nodes() == 0


def test_stages_join_the_command_session_and_never_stop_it(monkeypatch):
    up, ended = {"ray": False}, []

    def start_ray(**kw):
        was = up["ray"]
        up["ray"] = True
        return not was

    monkeypatch.setattr(raysession, "start_ray", start_ray)
    monkeypatch.setattr(raysession, "ray_initialized", lambda: up["ray"])
    monkeypatch.setattr(raysession, "guard_local_ray", lambda record: None)
    monkeypatch.setattr(ray, "shutdown", lambda: (ended.append(1), up.update(ray=False)))
    monkeypatch.setattr(ray, "is_initialized", lambda: up["ray"])
    # never the real cluster a session-scoped fixture may hold up in this process (ending its agents once
    # took its raylet and pytest down): the stragglers are recorded, not signalled
    stragglers = []
    monkeypatch.setattr(raysession, "cluster_workers", lambda: [{"pid": 4242}])
    monkeypatch.setattr(raysession, "end_stragglers", lambda ws: stragglers.append(ws) or [])
    with raysession.RaySession() as session:
        assert not up["ray"]  # lazy: nothing needed Ray yet
        with raysession.ray_session():  # a stage
            assert up["ray"]
        assert up["ray"] and ended == []  # the stage left the command's session up
        session.close()  # the loop ends it at a set point; leaving the block again is a no-op
        assert ended == [1] and not up["ray"] and stragglers == [[{"pid": 4242}]]
    assert ended == [1]
    with raysession.ray_session():  # outside any session (a library call): ended with the block
        assert up["ray"]
    assert ended == [1, 1]
    up["ray"] = True  # a session found up (a test's, a job's) is left as found
    with raysession.RaySession(), raysession.ray_session():
        pass
    assert ended == [1, 1] and up["ray"]


def test_stragglers_are_ended_only_once_ray_is_really_down(monkeypatch):
    """A shutdown that left Ray connected (here: a no-op) must not signal the cluster's processes: they are
    its live raylet's agents and workers, not stragglers."""
    up, signalled = {"ray": False}, []
    monkeypatch.setattr(raysession, "start_ray", lambda **kw: not up["ray"] and up.update(ray=True) is None)
    monkeypatch.setattr(raysession, "ray_initialized", lambda: up["ray"])
    monkeypatch.setattr(raysession, "guard_local_ray", lambda record: None)
    monkeypatch.setattr(ray, "shutdown", lambda: None)  # Ray stays connected
    monkeypatch.setattr(ray, "is_initialized", lambda: up["ray"])
    monkeypatch.setattr(raysession, "cluster_workers", lambda: [{"pid": 4242}])
    monkeypatch.setattr(raysession, "end_stragglers", lambda ws: signalled.append(ws) or [])
    with raysession.RaySession() as session:
        with raysession.ray_session():
            assert up["ray"]
        session.close()
    assert signalled == [] and up["ray"]
