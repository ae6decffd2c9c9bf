"""The package's shape, checked in one place: pure modules import no heavy framework, layers and cycles,
and the house limits (modules directly under ``limo_rl/``, lines per module, lines per function).

Purity: each case imports its modules in a fresh interpreter in which the named frameworks cannot
be imported (a finder that raises ImportError for them), then runs a small check. The blocked
set is the case's own: a package that legitimately needs one of them (the generate stage reads
parquet, so pyarrow) is not blocked for it.
"""

from __future__ import annotations

import ast
import collections
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "limo_rl"

MAX_ROOT_MODULES = 8
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80

FRAMEWORKS = ("torch", "ray", "vllm", "trl", "transformers")

# name -> (blocked top-level packages, code run after the block is installed; it prints "ok" last)
PURE: dict[str, tuple[tuple[str, ...], str]] = {
    "foundation_and_loop": (FRAMEWORKS + ("deepspeed", "datasets"), """
        import limo_rl.types, limo_rl.config, limo_rl.run.artifacts, limo_rl.console.tracking
        import limo_rl.console.progress, limo_rl.loop.cache, limo_rl.loop.plan, limo_rl.loop.report
        import limo_rl.data.io, limo_rl.evaluate.paired, limo_rl.loop.comparisons, limo_rl.loop.matching
        import limo_rl.data.decontam, limo_rl.select.controls, limo_rl.toy.perturb, limo_rl.toy.gold
        print("ok")
    """),
    "evaluate": (FRAMEWORKS + ("matplotlib", "pyarrow"), """
        import limo_rl.evaluate as ev
        import limo_rl.evaluate.cli
        assert ev.pass_at_k(4, 1, 2) == 0.5
        print("ok")
    """),
    "generate": (FRAMEWORKS + ("requests",), """
        import limo_rl.generate, limo_rl.generate.prompts, limo_rl.generate.shards, limo_rl.generate.cli
        import limo_rl.generate.engines, limo_rl.generate.engines.hf, limo_rl.generate.engines.vllm
        import limo_rl.generate.engines.openai, limo_rl.generate.driver
        print("ok")
    """),
    "curation": (FRAMEWORKS + ("datasets",), """
        import limo_rl.data.pool, limo_rl.data.static, limo_rl.data.cli, limo_rl.select, limo_rl.select.cli
        print("ok")
    """),
    "toy": (FRAMEWORKS, """
        import limo_rl.toy, limo_rl.toy.cli, limo_rl.toy.lm
        assert len(limo_rl.toy.gold_examples(3)) == 3
        print("ok")
    """),
    "train": (FRAMEWORKS + ("datasets",), """
        import limo_rl.train.rows, limo_rl.train.batching, limo_rl.train.checkpoints, limo_rl.train.cli
        import limo_rl.train.chat_template
        print("ok")
    """),
    "verify": (("torch", "ray", "vllm", "trl", "math_verify", "sympy"), """
        import limo_rl.verify.answers, limo_rl.verify.normalize, limo_rl.verify.equivalence
        import limo_rl.verify.arith, limo_rl.verify.density, limo_rl.verify.quality, limo_rl.verify.grade
        import limo_rl.verify.stage, limo_rl.verify.cli, limo_rl.verify.lexer
        from limo_rl.verify.equivalence import fast_equal
        assert fast_equal('1,000', '1000') is True
        print("ok")
    """),
}


def run_blocked(blocked: tuple[str, ...], code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where importing any of ``blocked`` raises ImportError."""
    block = textwrap.dedent(f"""
        import sys
        class _Blocked:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in {set(blocked)!r}:
                    raise ImportError('blocked: ' + name)
                return None
        sys.meta_path.insert(0, _Blocked())
    """)
    return subprocess.run([sys.executable, "-c", block + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


@pytest.mark.parametrize("case", sorted(PURE))
def test_pure_modules_import_no_heavy_framework(case):
    blocked, code = PURE[case]
    res = run_blocked(blocked, code)
    assert res.returncode == 0 and res.stdout.strip().splitlines()[-1:] == ["ok"], res.stderr


def test_cli_help_imports_no_framework():
    res = run_blocked(PURE["foundation_and_loop"][0],
                      "from limo_rl.cli import main; sys.argv = ['limo-rl', '--help']; main()")
    assert res.returncode == 0, res.stderr
    for cmd in ("run", "generate", "grade", "select", "train", "evaluate", "report", "plan", "toy", "decontaminate"):
        assert cmd in res.stdout


def test_config_loads_no_ray_runtime_or_console():
    """The recipe is pydantic and yaml only: importing it and loading a recipe starts no Ray module, no
    machine check (limo_rl.runtime) and no console."""
    res = subprocess.run([sys.executable, "-c", (
        "import sys, limo_rl.config as c; c.load_recipe('recipes/quickstart.yaml'); c.load_recipe(None); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray' or m.startswith(('limo_rl.runtime', "
        "'limo_rl.console.progress'))))")], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0 and res.stdout.strip() == "[]", res.stdout + res.stderr


# ----------------------------------------------------------------------------------------------- imports
def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        parts = f.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _import_graph(named: bool = True) -> dict[str, set[str]]:
    """Module -> the limo_rl modules it imports: module level and function level, relative imports, and
    (``named``) module names given to ``import_module`` (directly or in a table of names)."""
    mods = _modules()

    def known(t: str) -> str:
        while t and t not in mods:
            t = t.rpartition(".")[0]
        return t

    def targets(cur: str, node: ast.AST) -> list[str]:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = cur.split(".") if mods[cur].name == "__init__.py" else cur.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                m = ".".join(base + ([node.module] if node.module else []))
            else:
                m = node.module or ""
            return [f"{m}.{a.name}" if f"{m}.{a.name}" in mods else m for a in node.names]
        return [a.name for a in node.names]

    edges: dict[str, set[str]] = collections.defaultdict(set)
    for name, f in mods.items():
        for n in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            ts: list[str] = []
            if isinstance(n, (ast.Import, ast.ImportFrom)) and not (isinstance(n, ast.ImportFrom)
                                                                     and n.module == "__future__"):
                ts = targets(name, n)
            elif not named:
                pass
            elif isinstance(n, ast.Call) and getattr(n.func, "attr", getattr(n.func, "id", "")) == "import_module":
                ts = [a.value for a in n.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            elif isinstance(n, (ast.List, ast.Tuple)):
                ts = [e.value for e in n.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
                      and e.value in mods]
            for t in ts:
                t = known(t)
                if t and t != name and t.startswith("limo_rl") and not name.startswith(t + "."):
                    edges[name].add(t)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    nodes = set(edges) | {t for ts in edges.values() for t in ts}
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = _cycles(_import_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_import_cycles_in_verify_and_the_pool_imports_no_grader_module():
    """The worker's job handlers live in ``verify/_worker`` and the chain features in ``verify/features`` so
    that ``verify/sandbox`` (process management) imports nothing of the grader that drives it."""
    graph = {m: {t for t in ts if t.startswith("limo_rl.verify.")} for m, ts in _import_graph(named=False).items()
             if m.startswith("limo_rl.verify.")}
    assert not _cycles(graph)
    assert not graph.get("limo_rl.verify.sandbox", set()) - {"limo_rl.verify.outcomes"}


# ----------------------------------------------------------------------------------------------- sizes
def test_at_most_a_few_modules_directly_under_the_package():
    root_modules = sorted(p.name for p in PKG.glob("*.py"))
    assert len(root_modules) <= MAX_ROOT_MODULES, root_modules


def _long() -> tuple[list[str], list[str]]:
    """(modules over MAX_MODULE_LINES lines, functions over MAX_FUNCTION_LINES lines), each with its count."""
    modules, functions = [], []
    for f in sorted(PKG.rglob("*.py")):
        text = f.read_text(encoding="utf-8")
        rel = f.relative_to(ROOT).as_posix()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            modules.append(f"{rel}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    functions.append(f"{rel}:{node.lineno} {node.name}: {n} lines")
    return modules, functions


def test_size_counter_counts_a_function_from_def_to_its_last_line():
    tree = ast.parse("def f():\n    x = 1\n\n    return x\n")
    node = tree.body[0]
    assert node.end_lineno - node.lineno + 1 == 4


def test_no_module_over_the_house_limit():
    modules, _ = _long()
    assert not modules, modules


def test_no_function_over_the_house_limit():
    _, functions = _long()
    assert not functions, functions
