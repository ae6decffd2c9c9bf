"""The foundation and the loop's pure parts import no heavy framework, and `limo-rl --help` stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BLOCK = """
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'ray', 'vllm', 'trl', 'transformers', 'deepspeed', 'datasets'}:
            raise ImportError('blocked: ' + name)
        return None
sys.meta_path.insert(0, _Blocked())
"""


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, timeout=120)


def test_pure_modules_import_without_frameworks():
    res = run("import limo_rl.types, limo_rl.config, limo_rl.run.artifacts, limo_rl.console.tracking, limo_rl.console.progress, "
              "limo_rl.loop.cache, limo_rl.loop.plan, limo_rl.loop.report, limo_rl.data.io, limo_rl.evaluate.paired, "
              "limo_rl.loop.comparisons, limo_rl.loop.matching, limo_rl.data.decontam, limo_rl.select.controls, "
              "limo_rl.toy.perturb, limo_rl.toy.gold; print('ok')")
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_cli_help_imports_no_framework():
    res = run("from limo_rl.cli import main; sys.argv = ['limo-rl', '--help']; main()")
    assert res.returncode == 0, res.stderr
    for cmd in ("run", "generate", "grade", "select", "train", "evaluate", "report", "plan", "toy", "decontaminate"):
        assert cmd in res.stdout


def test_config_loads_no_ray_runtime_or_console():
    """The recipe is pydantic and yaml only: importing it and loading a recipe starts no Ray module, no
    machine check (limo_rl.runtime) and no console."""
    res = subprocess.run([sys.executable, "-c", (
        "import sys, limo_rl.config as c; c.load_recipe('recipes/quickstart.yaml'); c.load_recipe(None); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray' or m.startswith(('limo_rl.runtime', "
        "'limo_rl.console.progress'))))")], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 0 and res.stdout.strip() == "[]", res.stdout + res.stderr
