"""The one resolver for model names and generated data sources, and the errors leaf."""

from __future__ import annotations

import pytest

from limo_rl.config import ToyConfig
from limo_rl.data.benchmarks import REGISTRY, load_benchmark
from limo_rl.errors import DataError, LimoError, ModelURIError, RecipeError, UsageError
from limo_rl.resolve import (
    DATA_SOURCES,
    MODEL_SCHEMES,
    WorldSettings,
    generated_source,
    model_cache_dir,
    resolve_model,
)


def test_user_errors_share_one_base_and_stay_value_errors_where_they_were():
    for cls in (UsageError, RecipeError, DataError, ModelURIError):
        assert issubclass(cls, LimoError)
    assert issubclass(RecipeError, ValueError) and issubclass(DataError, ValueError)


def test_local_folder_hub_id_and_served_name(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    with pytest.raises(ModelURIError, match="no config.json"):
        resolve_model(str(model))
    (model / "config.json").write_text("{}")
    ref = resolve_model(str(model))
    assert ref.path == str(model.resolve()) and ref.fingerprint.startswith("local:")
    (model / "config.json").write_text('{"edited": 1}')  # issue 15: a local folder is keyed by its content
    assert resolve_model(str(model)).fingerprint != ref.fingerprint
    assert resolve_model("Qwen/Qwen2.5-0.5B").path == "Qwen/Qwen2.5-0.5B"
    assert resolve_model("gpt2").path == "gpt2"
    with pytest.raises(ModelURIError, match="no such folder"):
        resolve_model(str(tmp_path / "absent"), label="train.model")
    with pytest.raises(ModelURIError, match="^train.model "):
        resolve_model("./absent", label="train.model")
    assert resolve_model(str(tmp_path / "absent"), engine="openai").path == str(tmp_path / "absent")


def test_unknown_scheme_and_unknown_toy_model_are_user_errors(tmp_path):
    assert "toy" in MODEL_SCHEMES
    with pytest.raises(ModelURIError, match="unknown scheme s4://"):
        resolve_model("s4://bucket/m", output_dir=tmp_path)
    with pytest.raises(ModelURIError, match="unknown toy model"):
        resolve_model("toy://nope", output_dir=tmp_path)


def test_one_cache_folder_per_output_dir(tmp_path):
    assert model_cache_dir("toy", tmp_path) == tmp_path / ".cache" / "toy"


def test_generated_sources_are_chosen_by_name_or_format():
    assert generated_source("toy") is DATA_SOURCES["toy"]
    assert generated_source("data/x.jsonl", "toy") is DATA_SOURCES["toy"]
    assert generated_source("toy", "jsonl") is None and generated_source("GAIR/LIMO") is None


def test_toy_eval_follows_the_recipes_world_difficulty():
    easy = load_benchmark("toy_eval", limit=20)
    assert easy == load_benchmark("toy_eval", limit=20, world=WorldSettings({"toy": ToyConfig()}))  # the defaults
    hard = load_benchmark("toy_eval", limit=20, world=WorldSettings({"toy": ToyConfig(difficulty=4)}))
    assert [p.question for p in hard] != [p.question for p in easy]
    assert all(p.source == "toy_eval" for p in hard)


def test_benchmark_quirks_are_spec_fields():
    assert REGISTRY["gpqa_diamond"].row_map is not None and REGISTRY["gaokao"].row_map is not None
    assert REGISTRY["toy_eval"].generated == "toy" and REGISTRY["aime24"].row_map is None


def test_layers_stage_clis_never_import_the_cli_or_the_loop_and_only_two_modules_name_the_toy_world():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "limo_rl"

    def imports(path: Path) -> set[str]:
        out = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                out |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                out |= {a.name for a in node.names}
        return out

    for cli in root.glob("*/cli.py"):
        if cli.parent.name == "loop":
            continue
        bad = {m for m in imports(cli) if m == "limo_rl.cli" or m.startswith("limo_rl.loop")}
        assert not bad, f"{cli} imports {bad}"
    toy_users = {p.relative_to(root).as_posix() for p in root.rglob("*.py")
                 if "toy" not in p.relative_to(root).parts[:1]
                 and any(m == "limo_rl.toy" or m.startswith("limo_rl.toy.") for m in imports(p))}
    assert toy_users == {"cli.py", "resolve.py"}


def _world_uri_literals(path) -> list[int]:
    """Lines of ``path`` where code spells a world's model scheme (``toy://``): docstrings, CLI help and
    descriptions (text to users) and the schema's defaults (recipe values, not branches) do not count."""
    import ast

    tree = ast.parse(path.read_text())
    text_nodes: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant):
            text_nodes.add(id(body[0].value))  # a docstring
        if isinstance(node, ast.keyword) and node.arg in ("help", "description", "epilog"):
            text_nodes |= {id(n) for n in ast.walk(node.value)}
        if path.parent.name == "config" and isinstance(node, ast.ClassDef):
            for stmt in node.body:  # field defaults: model: str = "toy://teacher" / Field("toy://base", ...)
                if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                    text_nodes |= {id(n) for n in ast.walk(stmt.value)}
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and "toy://" in n.value and id(n) not in text_nodes]


def test_no_code_outside_the_resolver_and_the_toy_world_spells_toy_uris():
    """A second world is one table entry: no module branches on ``toy://`` but resolve.py and toy/."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "limo_rl"
    found = {str(p.relative_to(root)): lines for p in sorted(root.rglob("*.py"))
             if p.name != "resolve.py" and "toy" not in p.relative_to(root).parts[:1]
             and (lines := _world_uri_literals(p))}
    assert found == {}, f"toy:// spelled outside limo_rl/resolve.py and limo_rl/toy/: {found}"


def test_a_world_entry_knows_its_models_data_and_benchmark_sizes():
    from limo_rl.config import load_recipe
    from limo_rl.data.benchmarks import generated_benchmark_size
    from limo_rl.loop.plan import benchmark_size
    from limo_rl.resolve import WORLDS, model_problem, model_world, world_settings

    toy = WORLDS["toy"]
    assert model_world("toy://base") is toy and model_world("s3://b/m") is None and model_world("gpt2") is None
    assert generated_source("toy") is toy and set(MODEL_SCHEMES) >= set(WORLDS)
    assert model_problem("toy://base") is None and "unknown toy model" in model_problem("toy://oracle")
    # the planner asks the world: toy_eval is its 1,000 problems, toy_dev its 500 (the planner said 100)
    assert generated_benchmark_size("toy_eval") == len(load_benchmark("toy_eval")) == benchmark_size("toy_eval")
    assert generated_benchmark_size("toy_dev") == len(load_benchmark("toy_dev")) == 500
    assert generated_benchmark_size("aime24") is None and benchmark_size("aime24") == 30
    r = load_recipe("recipes/quickstart.yaml", ["toy.difficulty=4"])
    ws = world_settings(r)
    assert ws.of("toy") is r.toy and WorldSettings().of("toy") == ToyConfig()
    assert load_benchmark("toy_eval", limit=5, world=ws) == load_benchmark(
        "toy_eval", limit=5, world=WorldSettings({"toy": ToyConfig(difficulty=4)}))
