"""The command's Ray session: stages join it and never stop it; the shared-storage probe runs again when
nodes joined since the last one (an autoscaling cluster starts with its head alone, where there is nothing
to probe)."""

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
    with raysession.RaySession() as session:
        assert not up["ray"]  # lazy: nothing needed Ray yet
        with raysession.ray_session():  # a stage
            assert up["ray"]
        assert up["ray"] and ended == []  # the stage left the command's session up
        session.close()  # the loop ends it at a set point; leaving the block again is a no-op
        assert ended == [1] and not up["ray"]
    assert ended == [1]
    with raysession.ray_session():  # outside any session (a library call): ended with the block
        assert up["ray"]
    assert ended == [1, 1]
    up["ray"] = True  # a session found up (a test's, a job's) is left as found
    with raysession.RaySession(), raysession.ray_session():
        pass
    assert ended == [1, 1] and up["ray"]
