"""``limo-rl decontaminate`` and ``limo-rl select`` (ad hoc mode) end to end through the real CLI entry point."""

from __future__ import annotations

import json

from limo_rl.cli import main
from limo_rl.data.io import read_problems, write_problems
from limo_rl.generate.shards import write_shard
from limo_rl.select import read_sft
from limo_rl.types import Chain, Problem, Verdict

LONG = ("A rectangular garden is twice as long as it is wide, and a path of width two metres runs around "
        "the outside of it. If the area of the path is one hundred and twelve square metres, find the width.")


def test_decontaminate_cli(tmp_path, capsys):
    pool = write_problems(tmp_path / "pool.jsonl", [
        Problem(id="a", question=LONG.replace("  ", " ").replace("two", "2"), answer="6"),
        Problem(id="b", question="How many edges does a cube have?", answer="12"),
    ])
    bench = tmp_path / "m.jsonl"
    bench.write_text(json.dumps({"problem": LONG, "answer": "6", "subject": "Algebra"}) + "\n")
    rc = main(["-q", "decontaminate", "--pool", str(pool), "--benchmarks", "math500", "--path",
               f"math500={bench}", "--out", str(tmp_path / "out"), "--ngram", "8"])
    assert rc == 0
    assert [p.id for p in read_problems(tmp_path / "out" / "problems.jsonl")] == ["b"]
    report = [json.loads(x) for x in (tmp_path / "out" / "decontamination.jsonl").read_text().splitlines()]
    assert report[0]["problem_id"] == "a" and report[0]["benchmark_id"] == "math500-0"
    assert json.loads(capsys.readouterr().out)["removed"] == 1
    rc = main(["decontaminate", "--pool", str(pool), "--benchmarks", "kaoyan", "--out", str(tmp_path / "o2")])
    err = capsys.readouterr().err
    assert rc == 2 and "no Hugging Face copy" in err and "Traceback" not in err


def test_select_cli_adhoc(tmp_path, capsys):
    problems = [Problem(id=f"p{i}", question=f"What is {i} + {i}?", answer=str(2 * i)) for i in range(4)]
    write_problems(tmp_path / "problems.jsonl", problems)
    chains, rows = [], []
    for p in problems:
        for j in range(3):
            c = Chain(problem_id=p.id, sample_index=j, round=1, teacher="t", engine="hf", seed=j, prompt_hash="h",
                      text=f"{p.question} ... so \\boxed{{{p.answer}}}" + " check" * j, n_tokens=20 + 5 * j,
                      finish_reason="length" if j == 2 else "stop")
            chains.append(c)
            v = Verdict(correct=p.id != "p3", status="ok", extracted=p.answer, verification_density=0.1 * j)
            rows.append({"problem_id": p.id, "sample_index": j, **v.to_dict()})
    (tmp_path / "chains").mkdir()
    write_shard(tmp_path / "chains" / "shard-00000.parquet", chains)
    (tmp_path / "verdicts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["-q", "select", "--problems", str(tmp_path / "problems.jsonl"), "--chains", str(tmp_path / "chains"),
            "--verdicts", str(tmp_path / "verdicts.jsonl"), "--out", str(tmp_path / "sel"),
            "--strategy", "verification_density", "--budget", "2", "--system-prompt", ""]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["selected"] == 2 and out["candidates"] == 6  # p3 all wrong; sample 2 truncated everywhere
    sft = read_sft(tmp_path / "sel" / "sft.jsonl")
    assert [e.chain_ref.split("/")[2] for e in sft] == ["1", "1"]  # density 0.1 beats 0.0; truncated 0.2 never
    assert [m["role"] for m in sft[0].messages] == ["user", "assistant"]
    assert main([*args[:-2], "--weight", "bogus"]) == 2
    assert "expected FEATURE=NUMBER" in capsys.readouterr().err
    assert main(["select", "--problems", str(tmp_path / "problems.jsonl")]) == 2
    assert "needs all of" in capsys.readouterr().err


def test_select_cli_adhoc_selecting_nothing_fails(tmp_path, capsys):
    """Issue 15 case 10: an ad hoc selection that matches no chain exits non-zero and says why."""
    problems = [Problem(id="p0", question="What is 1 + 1?", answer="2")]
    write_problems(tmp_path / "problems.jsonl", problems)
    chains = [Chain(problem_id="p0", sample_index=0, round=1, teacher="t", engine="hf", seed=0, prompt_hash="h",
                    text="so \\boxed{3}", n_tokens=5, finish_reason="stop")]
    (tmp_path / "chains").mkdir()
    write_shard(tmp_path / "chains" / "shard-00000.parquet", chains)
    v = Verdict(correct=False, status="ok", extracted="3", verification_density=0.0)
    (tmp_path / "verdicts.jsonl").write_text(json.dumps({"problem_id": "p0", "sample_index": 0, **v.to_dict()}) + "\n")
    rc = main(["-q", "select", "--problems", str(tmp_path / "problems.jsonl"), "--chains", str(tmp_path / "chains"),
               "--verdicts", str(tmp_path / "verdicts.jsonl"), "--out", str(tmp_path / "sel")])
    err = capsys.readouterr().err
    assert rc == 1 and "no chain was selected" in err
