"""The run layout has one owner: no module but ``limo_rl/run/layout.py`` spells a run-level file name or a stage
folder as a path component, or finds seeds and rounds by glob (issue 24). Every other module asks
:class:`limo_rl.run.layout.RunLayout` (``stage_dir``, ``seeds``, ``rounds``, ``arms``) and its constants.

The scan reads string tokens, so a file name in a docstring or a message is fine; a literal ``"metrics.json"``
or ``/ "evaluate"`` is not. Stage *names* (``runner.run("train", ...)``, ``stage_dir(rd, "train")``) are the
stages' identities, not paths, and stay where they are.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from limo_rl.run import layout as L
from limo_rl.run import readers as R

ROOT = Path(L.__file__).resolve().parents[1]  # limo_rl/
OWNER = "run/layout.py"
RUN_FILES = {L.CONFIG, L.MANIFEST, L.REPORT_MD, L.REPORT_JSON, L.REPORT_PNG, L.POOL_PROBLEMS, L.EVAL_VERDICTS,
             L.SFT, L.STAGE_STATS, L.DIFFICULTY, L.METRICS, L.SAMPLES, L.TRAIN_METRICS, L.MATCH}
FOLDERS = {*L.STAGE_FOLDERS, L.POOL, L.LOOP, L.STATIC, L.CONTROL, L.BASELINES, L.STATIC_CURVE, L.CHAINS, L.VERDICTS,
           L.MODEL, L.CHECKPOINTS, L.TRAIN_ROWS}
# (module, literal) -> why it is not a run-folder name
ALLOWED: dict[tuple[str, str], str] = {}
_FOLDER_FSTRING = re.compile(r"(?:^[rRbBuU]?[fF][rRbB]?(?:'|\")|/)(?:seed|round|draw|n)\{")
_GLOB = re.compile(r"""glob\(\s*[fFrR]*["'](?:[^"']*/)?(?:seed|round)\*""")
_NAME_SLICE = re.compile(r"\.name\[\d+:\]")


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if p.relative_to(ROOT).as_posix() != OWNER)


def _strings(path: Path):
    """(line, literal value or None for an f-string, source, previous op, next op) of each string token."""
    toks = [t for t in tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
            if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)]
    fstring_depth = 0
    for i, t in enumerate(toks):
        prev = toks[i - 1].string if i else ""
        nxt = toks[i + 1].string if i + 1 < len(toks) else ""
        if t.type == getattr(tokenize, "FSTRING_START", -1):
            fstring_depth += 1
            continue
        if t.type == getattr(tokenize, "FSTRING_END", -1):
            fstring_depth -= 1
            continue
        if t.type != tokenize.STRING or fstring_depth:
            continue
        if re.match(r"^[rRbBuU]?[fF]", t.string) or re.match(r"^[fF][rRbB]", t.string):
            yield t.start[0], None, t.string, prev, nxt
        else:
            yield t.start[0], ast.literal_eval(t.string), t.string, prev, nxt


def _offences(path: Path) -> list[str]:
    rel = path.relative_to(ROOT).as_posix()
    out = []
    for line, value, src, prev, nxt in _strings(path):
        if value is None:
            if _FOLDER_FSTRING.search(src):
                out.append(f"{rel}:{line}: {src} spells a seed/round/curve folder")
            continue
        if not isinstance(value, str) or (rel, value) in ALLOWED:
            continue
        if value in RUN_FILES:
            out.append(f"{rel}:{line}: {src} is a run file name")
        elif value in FOLDERS and "/" in (prev, nxt):
            out.append(f"{rel}:{line}: {src} is a stage folder as a path component")
    return out


def test_no_module_but_the_layout_spells_run_files_or_stage_folders():
    offences = [o for p in _modules() for o in _offences(p)]
    assert not offences, "\n".join(offences)


def test_no_module_but_the_layout_finds_seeds_or_rounds_by_glob():
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in _modules()
             for n, line in enumerate(p.read_text().splitlines(), start=1)
             if _GLOB.search(line) or _NAME_SLICE.search(line)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("src, bad", [
    ('x = d / "evaluate"\n', True), ('x = "train" / d\n', True), ('x = d / METRICS\n', False),
    ('x = d / "metrics.json"\n', True), ('runner.run("train", d)\n', False), ('x = f"seed{s}"\n', True),
    ('x = root / f"round{r}"\n', True), ('"""See ``metrics.json``."""\n', False), ('x = "generate" + y\n', False),
])
def test_the_scan_finds_what_it_should(tmp_path, src, bad):
    f = tmp_path / "m.py"
    f.write_text(src)
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        assert bool(_offences(f)) is bad
    finally:
        ROOT = old


def test_the_layout_names_what_the_driver_writes(tmp_path):
    lay = L.RunLayout(tmp_path)
    assert lay.stage_dir(0, "loop", 2, "generate") == tmp_path / "seed0" / "loop" / "round2" / "generate"
    assert lay.stage_dir(1, "static", None, "data") == tmp_path / "seed1" / "static" / "data"
    assert lay.stage_dir(0, "base", None, "evaluate") == lay.baseline_eval_dir(0, "base")
    assert lay.arm_dir(0, "control/own_incorrect") == lay.control_dir(0, "own_incorrect")
    assert lay.curve_dir(0, 10, 1) == tmp_path / "seed0" / "static_curve" / "n10" / "draw1"
    assert L.curve_arm(10, 1) == "static/n10/draw1"
    with pytest.raises(ValueError):
        lay.stage_dir(0, "loop", 1, "bogus")
    with pytest.raises(ValueError):
        lay.arm_dir(0, "loop")  # the loop arm needs its round
    for d in (lay.round_dir(0, 2), lay.round_dir(0, 10), lay.round_dir(3, 1), tmp_path / "seed_x"):
        d.mkdir(parents=True)
    assert lay.seeds() == [0, 3] and lay.rounds(0) == [2, 10]
    assert list(lay.seed_dirs()) == [(0, lay.seed_dir(0)), (3, lay.seed_dir(3))]
    assert (lay.config_path.name, lay.manifest_path.name, lay.report_md.name) == (L.CONFIG, L.MANIFEST, L.REPORT_MD)


def test_chain_ref_round_trips_in_the_form_selection_always_wrote():
    from limo_rl.types import ChainRef, SFTExample

    ref = ChainRef(2, "aime/2024/7", 3)
    assert str(ref) == "2/aime/2024/7/3" and ChainRef.parse(str(ref)) == ref and ref.key == ("aime/2024/7", 3)
    assert ChainRef.parse("toy:terse") is None and ChainRef.parse("") is None and ChainRef.parse("x/p/1") is None
    ex = SFTExample("e", (), chain_ref=str(ref))
    assert ex.ref == ref and ex.to_dict()["chain_ref"] == "2/aime/2024/7/3"


def test_eval_metrics_is_the_one_reader_of_metrics_json(tmp_path):
    doc = {"model": "m", "label": "loop/round1/seed0", "ci_level": 0.9, "benchmarks": {
        "b": {"primary": "pass@1[avg of 2]", "n_problems": 3, "n_samples": 6, "split": "dev",
              "metrics": {"pass@1[avg of 2]": {"value": 0.5, "ci_low": 0.25, "ci_high": 0.75}, "odd": {"value": None}}},
        "c": {"primary": None, "metrics": {}}}}
    ev = R.EvalMetrics.from_doc(doc)
    assert ev.headline() == {"b/pass@1[avg of 2]": 0.5}
    b = ev.benchmarks["b"]
    assert (b.split, b.n_problems, b.primary_value) == ("dev", 3, R.MetricValue(0.5, 0.25, 0.75))
    assert "odd" not in b.metrics and ev.benchmarks["c"].split == "test"
    (tmp_path / L.METRICS).write_text(__import__("json").dumps(doc))
    assert R.read_eval_metrics(tmp_path) == R.read_eval_metrics(tmp_path / L.METRICS) == ev
    (tmp_path / L.METRICS).write_text('{"benchmarks": {"b": ')
    with pytest.raises(R.RunFileError, match="damaged"):
        R.read_eval_metrics(tmp_path)
