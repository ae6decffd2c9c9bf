"""No import cycles among the verifier's modules, lazy (function-level) imports included.

The worker's job handlers live in ``_worker`` and the chain features in ``features`` so that
``sandbox`` (process management) imports nothing of the grader that drives it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "limo_rl" / "verify"


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PKG.glob("*.py"):
        name = f"limo_rl.verify.{path.stem}"
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("limo_rl.verify."):
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("limo_rl.verify.")}
        graph[name] = deps
    return graph


def test_no_import_cycles_in_verify():
    graph = _graph()

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for d in graph.get(todo.pop(), ()):
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen

    cyclic = sorted(m for m in graph if m in reach(m))
    assert not cyclic, f"import cycles through {cyclic}"
    # the pool imports no grader module (only the leaf naming the job outcomes)
    assert not graph["limo_rl.verify.sandbox"] - {"limo_rl.verify.sandbox", "limo_rl.verify.outcomes"}
