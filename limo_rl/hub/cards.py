"""Dataset and model cards: a run's SFT sets and students, ready for the Hugging Face Hub.

An SFT set becomes ``data/train-00000-of-00001.parquet`` (beside ``sft.jsonl``) with a
``README.md`` whose YAML header follows the Hub's dataset-card metadata (``license``,
``task_categories``, ``size_categories``; ``datasets.load_dataset(folder)`` and the Hub viewer
both find the parquet by its name) plus a ``limo_rl`` block: where the data came from (run, stage, recipe hash, git
commit), the teacher, the grader and its version, the selection strategy and the counts.
A student's ``model/README.md`` carries ``base_model``, ``datasets``, the training config and
the run's evaluation results (``model-index``). Cards are descriptions, rewritten as later
stages learn more (the evaluation comes after training), so the stage cache does not hash
them (:func:`limo_rl.run.artifacts.hash_path`).

Both cards are made with ``huggingface_hub``'s ``DatasetCard``/``ModelCard`` and their card data
classes, the library the Hub validates cards against; the evaluation goes in as ``EvalResult``s (the Hub
dataset id, config, split and revision of each benchmark, :func:`limo_rl.data.benchmarks.hub_dataset`, and
the metric by its exact name), from which ``huggingface_hub`` writes the ``model-index``.

Pure core: yaml, pyarrow and huggingface_hub (imported when a card is made).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from limo_rl.data.benchmarks import hub_dataset
from limo_rl.run.artifacts import atomic_output, atomic_write_text, read_jsonl
from limo_rl.run.layout import METRICS, SFT
from limo_rl.run.readers import read_eval_metrics

CARD = "README.md"
# The Hub's own layout (what ``push_to_hub`` writes): the split is in the file name, so
# ``load_dataset(folder)`` and the Hub viewer find it without a ``configs:`` block. (A ``configs:`` block
# would make ``datasets`` cache every local folder named ``select`` under one key: stale rows.)
PARQUET = "data/train-00000-of-00001.parquet"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def is_hub_id(name: str | None) -> bool:
    """``org/name`` (what the Hub's ``base_model`` field accepts), not a path or a ``toy://`` URI."""
    return bool(name) and _HUB_ID.fullmatch(str(name)) is not None and not Path(str(name)).exists()


def _size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "n>1M"


def _front_matter(meta: Mapping[str, Any]) -> str:
    return "---\n" + yaml.safe_dump(dict(meta), sort_keys=False, allow_unicode=True, width=100) + "---\n"


def read_card(path: str | Path) -> tuple[dict[str, Any], str]:
    """(YAML header, body) of a card."""
    text = Path(path).read_text()
    if not text.startswith("---\n"):
        return {}, text
    head, _, body = text[4:].partition("\n---\n")
    return yaml.safe_load(head) or {}, body


def write_sft_parquet(sft_jsonl: str | Path, out: str | Path | None = None) -> Path:
    """``sft.jsonl`` -> parquet (messages as a list of {role, content}; one row per example)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    rows = read_jsonl(sft_jsonl)
    schema = pa.schema([
        ("id", pa.string()),
        ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("problem_id", pa.string()), ("source", pa.string()), ("chain_ref", pa.string()), ("score", pa.float64()),
    ])
    cols = {name: [r.get(name) for r in rows] for name in schema.names}
    cols["messages"] = [[{"role": m["role"], "content": m["content"]} for m in r["messages"]] for r in rows]
    out = Path(out) if out is not None else Path(sft_jsonl).parent / PARQUET
    with atomic_output(out) as tmp:
        pq.write_table(pa.table(cols, schema=schema), tmp)
    return out


def dataset_card(info: Mapping[str, Any]) -> str:
    """The card of an SFT set. ``info``: title, license, counts, teacher, grader, selection, provenance, ..."""
    counts = dict(info.get("counts") or {})
    n = int(counts.get("examples", 0))
    meta: dict[str, Any] = {
        "license": info.get("license") or "other",
        "pretty_name": info.get("title", "limo_rl SFT set"),
    }
    sel = info.get("selection") or {}
    grader = info.get("grader") or {}
    prov = info.get("provenance") or {}
    lines = [
        f"# {meta['pretty_name']}", "",
        f"{n} conversations (system, user, assistant) for supervised fine-tuning of step-by-step reasoning, "
        f"made by limo_rl run `{prov.get('run', '?')}` ({prov.get('stage', '?')}).", "",
        "## How it was made", "",
        f"- **Teacher**: `{info.get('teacher', '?')}` sampled the chains.",
        f"- **Grader**: `{grader.get('name', 'limo_rl.verify')}` version `{grader.get('version', '?')}` judged "
        "each chain's final answer against the gold answer and counted its verification steps.",
        f"- **Selection**: `{sel.get('strategy', '?')}`, budget {sel.get('budget', '?')}, "
        f"{sel.get('per_problem', '?')} chain(s) per problem.",
        "- **Counts**: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()) + ".",
        "",
        "## Use", "",
        "```python",
        "from datasets import load_dataset",
        "ds = load_dataset(\"<this folder or repo id>\", split=\"train\")  # columns: messages, problem_id, ...",
        "```", "",
        "## License", "",
        f"`{meta['license']}`: the chains are outputs of the teacher on the problem pool; check both licenses "
        "before sharing (`limo-rl push --license` sets this field).", "",
    ]
    from huggingface_hub import DatasetCard, DatasetCardData

    data = DatasetCardData(
        license=meta["license"], language=["en"], pretty_name=meta["pretty_name"],
        task_categories=["text-generation"], size_categories=[_size_category(n)],
        tags=["limo_rl", "reasoning", "math", "sft", "synthetic"],
        limo_rl={k: info[k] for k in ("provenance", "teacher", "grader", "selection", "counts", "pool")
                 if info.get(k) is not None},
    )
    return str(DatasetCard(_front_matter(data.to_dict()) + "\n" + "\n".join(lines)))


def write_dataset_card(sft_dir: str | Path, info: Mapping[str, Any]) -> Path:
    """The parquet file and ``README.md`` beside ``sft_dir/sft.jsonl``."""
    sft_dir = Path(sft_dir)
    write_sft_parquet(sft_dir / SFT)
    return atomic_write_text(sft_dir / CARD, dataset_card(info))


def model_card(info: Mapping[str, Any]) -> str:
    """The card of a student. ``info``: title, base_model, datasets, training (config), train_metrics,
    evaluation ({benchmark: {metric, value, ci_low, ci_high, n}}), provenance, license."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    base = info.get("base_model")
    evaluation: Mapping[str, Mapping[str, Any]] = info.get("evaluation") or {}
    results = []
    for bench, e in evaluation.items():
        hub = e.get("dataset") or {}
        results.append(EvalResult(
            task_type="text-generation", dataset_name=bench, dataset_type=hub.get("id") or bench,
            dataset_config=hub.get("config"), dataset_split=hub.get("split"), dataset_revision=hub.get("revision"),
            metric_type=e["metric"], metric_name=e["metric"], metric_value=round(100 * e["value"], 2)))
    hub_data = [d for d in info.get("datasets") or [] if is_hub_id(d)]
    data = ModelCardData(
        license=info.get("license") or "other", library_name="transformers", pipeline_tag="text-generation",
        tags=["limo_rl", "reasoning", "sft", "trl"], base_model=base if is_hub_id(base) else None,
        datasets=hub_data or None, model_name=info.get("title", "student") if results else None,
        eval_results=results or None,
        limo_rl={k: info[k] for k in ("base_model", "datasets", "training", "train_metrics", "evaluation",
                                      "provenance") if info.get(k) is not None},
    )
    lines = [f"# {info.get('title', 'student')}", "",
             f"Fine-tuned from `{base}` with TRL's SFTTrainer (assistant-only loss) on "
             f"{', '.join(f'`{d}`' for d in info.get('datasets') or []) or 'its SFT set'} by limo_rl.", ""]
    if evaluation:
        lines += ["## Evaluation (this run)", "", "| benchmark | metric | value | 95% CI |", "|---|---|---|---|"]
        for bench, e in evaluation.items():
            ci = (f"[{100 * e['ci_low']:.1f}, {100 * e['ci_high']:.1f}]"
                  if e.get("ci_low") is not None and e.get("ci_high") is not None else "-")
            lines.append(f"| {bench} | `{e['metric']}` | {100 * e['value']:.1f} | {ci} |")
        lines.append("")
    tm = info.get("train_metrics") or {}
    if tm:
        lines += ["## Training", "", ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                             for k, v in tm.items()), ""]
    return str(ModelCard(_front_matter(data.to_dict()) + "\n" + "\n".join(lines)))


def write_model_card(model_dir: str | Path, info: Mapping[str, Any]) -> Path | None:
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        return None
    return atomic_write_text(model_dir / CARD, model_card(info))


def evaluation_results(metrics_json: str | Path) -> dict[str, dict[str, Any]]:
    """An evaluation's ``metrics.json`` (or its folder) -> {benchmark: primary metric with CI and n}."""
    path = Path(metrics_json)
    path = path / METRICS if path.is_dir() else path
    if not path.is_file():
        return {}
    out = {}
    for bench, r in read_eval_metrics(path).items():
        if r.primary and (m := r.primary_value) is not None:
            out[bench] = {"metric": r.primary, "value": m.value, "ci_low": m.ci_low, "ci_high": m.ci_high,
                          "n": r.n_problems, "dataset": hub_dataset(bench)}
    return out


TRAIN_KEYS: Sequence[str] = ("train_loss", "eval_loss", "global_step", "epoch", "train_tokens", "tokens_per_s",
                             "world_size", "strategy", "batching", "n_train", "n_validation")
