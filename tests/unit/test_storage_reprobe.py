"""The shared-storage probe runs again when nodes joined since the last one (an autoscaling cluster starts
with its head alone, where there is nothing to probe)."""

from __future__ import annotations

import ray

import limo_rl.runtime.raysession as raysession


def test_storage_is_probed_again_when_nodes_join(tmp_path, monkeypatch):
    alive = [{"Alive": True}]
    probed = []
    monkeypatch.setattr(raysession, "start_ray", lambda: False)
    monkeypatch.setattr(raysession, "guard_local_ray", lambda record: None)
    live = lambda: sum(n["Alive"] for n in alive)  # noqa: E731
    monkeypatch.setattr(raysession, "check_shared_storage", lambda run_dir: probed.append(live()) or live())
    monkeypatch.setattr(raysession, "_is_working_copy", lambda run_dir: False)
    monkeypatch.setattr(ray, "nodes", lambda: list(alive))
    monkeypatch.setattr(raysession, "ray_initialized", lambda: False)  # nothing to shut down at the end
    with raysession.RaySession() as session:
        session.bind(tmp_path)
        raysession.ensure_ray()  # the head alone
        raysession.ensure_ray()
        assert probed == [1]
        alive += [{"Alive": True}, {"Alive": True}, {"Alive": False}]  # two GPU nodes joined (one gone)
        raysession.ensure_ray()
        raysession.ensure_ray()
        assert probed == [1, 3]  # probed once more, with every alive node
        session.bind(tmp_path)  # a new run in the same process is probed again
        raysession.ensure_ray()
        assert probed == [1, 3, 3]
