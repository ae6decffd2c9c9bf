"""The shared-storage probe runs again when nodes joined since the last one (an autoscaling cluster starts
with its head alone, where there is nothing to probe)."""

from __future__ import annotations

import ray

import limo_rl.loop.session as driver


def test_storage_is_probed_again_when_nodes_join(tmp_path, monkeypatch):
    alive = [{"Alive": True}]
    probed = []
    monkeypatch.setattr(driver, "start_ray", lambda: False)
    monkeypatch.setattr(driver, "guard_local_ray", lambda record: None)
    live = lambda: sum(n["Alive"] for n in alive)  # noqa: E731
    monkeypatch.setattr(driver, "check_shared_storage", lambda run_dir: probed.append(live()) or live())
    monkeypatch.setattr(driver, "_is_working_copy", lambda run_dir: False)
    monkeypatch.setattr(ray, "nodes", lambda: list(alive))
    monkeypatch.setattr(driver, "_storage_checked", {})
    driver.ensure_ray(tmp_path)  # the head alone
    driver.ensure_ray(tmp_path)
    assert probed == [1]
    alive += [{"Alive": True}, {"Alive": True}, {"Alive": False}]  # two GPU nodes joined (one gone)
    driver.ensure_ray(tmp_path)
    driver.ensure_ray(tmp_path)
    assert probed == [1, 3]  # probed once more, with every alive node
