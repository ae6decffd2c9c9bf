"""The KubeRay manifests: /dev/shm in every pod, KubeRay's own token auth, API keys only from Secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

KUBERAY = Path(__file__).resolve().parents[2] / "ray_cluster" / "kuberay"
SECRETISH = re.compile(r"(^|_)(API_KEY|KEY|TOKEN|SECRET|PASSWORD)$", re.I)


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((KUBERAY / name).read_text()) if d]


def _cluster_spec(doc: dict) -> dict:
    return doc["spec"]["rayClusterSpec"] if doc["kind"] == "RayJob" else doc["spec"]


def _pod_templates(spec: dict) -> list[tuple[str, dict]]:
    out = [("head", spec["headGroupSpec"]["template"]["spec"])]
    out += [(g["groupName"], g["template"]["spec"]) for g in spec.get("workerGroupSpecs", [])]
    return out


RAY_DOCS = [(name, d) for name in ("raycluster.yaml", "rayjob.yaml") for d in _docs(name)
            if d["kind"] in ("RayCluster", "RayJob")]


def test_both_manifests_are_found():
    assert {d["kind"] for _, d in RAY_DOCS} == {"RayCluster", "RayJob"}


@pytest.mark.parametrize(("name", "doc"), RAY_DOCS, ids=[n for n, _ in RAY_DOCS])
def test_every_pod_mounts_memory_backed_dev_shm(name, doc):
    for group, pod in _pod_templates(_cluster_spec(doc)):
        shm = {v["name"] for v in pod.get("volumes", []) if (v.get("emptyDir") or {}).get("medium") == "Memory"}
        assert shm, f"{name}/{group}: no emptyDir volume with medium Memory"
        for c in pod["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            assert mounts.get("/dev/shm") in shm, f"{name}/{group}/{c['name']}: /dev/shm not a memory volume"


@pytest.mark.parametrize(("name", "doc"), RAY_DOCS, ids=[n for n, _ in RAY_DOCS])
def test_token_auth_is_kuberays_own_option(name, doc):
    spec = _cluster_spec(doc)
    assert spec.get("authOptions", {}).get("mode") == "token", f"{name}: authOptions.mode is not token"
    for group, pod in _pod_templates(spec):
        for c in pod["containers"]:
            names = {e["name"] for e in c.get("env", [])}
            # the operator injects these; a hand-set copy would override it on some pods and not others
            assert not names & {"RAY_AUTH_TOKEN", "RAY_AUTH_MODE"}, f"{name}/{group}: auth env set by hand"


@pytest.mark.parametrize(("name", "doc"), RAY_DOCS, ids=[n for n, _ in RAY_DOCS])
def test_api_keys_come_from_secrets_never_from_a_runtime_env(name, doc):
    for group, pod in _pod_templates(_cluster_spec(doc)):
        for c in pod["containers"]:
            env = {e["name"]: e for e in c.get("env", [])}
            assert "OPENAI_API_KEY" in env, f"{name}/{group}: the OpenAI key does not reach this pod"
            for key, e in env.items():
                if SECRETISH.search(key):
                    assert "value" not in e and "secretKeyRef" in e.get("valueFrom", {}), f"{name}/{group}: {key}"
    if doc["kind"] == "RayJob":
        runtime_env = yaml.safe_load(doc["spec"].get("runtimeEnvYAML") or "{}") or {}
        bad = [k for k in (runtime_env.get("env_vars") or {}) if SECRETISH.search(k)]
        assert not bad, f"{name}: secrets in runtimeEnvYAML (shown in the dashboard): {bad}"


def test_shipped_runtime_env_holds_no_secret():
    env = yaml.safe_load((KUBERAY.parent / "runtime_env.yaml").read_text())
    assert not [k for k in env.get("env_vars", {}) if SECRETISH.search(k)]


def test_runs_volume_is_shared_and_claimed():
    pvc = _docs("pvc.yaml")[0]
    assert pvc["kind"] == "PersistentVolumeClaim" and "ReadWriteMany" in pvc["spec"]["accessModes"]
    for name, doc in RAY_DOCS:
        for group, pod in _pod_templates(_cluster_spec(doc)):
            claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
            assert pvc["metadata"]["name"] in claims, f"{name}/{group}: /runs not on the shared claim"


def test_the_dockerfile_builds_the_image_the_manifests_name():
    """No Docker here: the Dockerfile and the manifests agree on the image, the Ray version and the extras."""
    repo = KUBERAY.parents[1]
    text = (repo / "ray_cluster" / "Dockerfile").read_text()
    image = re.search(r'^LABEL org\.opencontainers\.image\.ref\.name="([^"]+)"', text, re.M).group(1)
    ray_version = re.search(r"^ARG RAY_VERSION=(\S+)", text, re.M).group(1)
    assert re.search(r"^FROM rayproject/ray:\$\{RAY_VERSION\}-py3\d+-gpu$", text, re.M)
    assert f"-t {image} " in text  # the build command in its header tags that image
    assert '"ray[data,train,tune,default]==${RAY_VERSION}"' in text and ".[vllm,deepspeed" in text
    for name, doc in RAY_DOCS:
        spec = _cluster_spec(doc)
        assert spec["rayVersion"] == ray_version, name
        for group, pod in _pod_templates(spec):
            assert {c["image"] for c in pod["containers"]} == {image}, (name, group)
    copied = re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", text, re.M)
    for src in " ".join(copied).split():
        assert (repo / src).exists(), src
    ignored = (repo / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "runs" in ignored
