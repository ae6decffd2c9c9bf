"""The canonical problems file: round trip and errors that name file, row and field."""

from __future__ import annotations

import json

import pytest

from limo_rl.data.io import DataError, read_problems, write_problems
from limo_rl.types import Problem


def test_roundtrip(tmp_path):
    ps = [Problem(id="a", question="1+1?", answer="2", source="s", meta={"k": 1}), Problem(id="b", question="q", answer="x")]
    p = write_problems(tmp_path / "p.jsonl", ps)
    assert read_problems(p) == ps


def test_numeric_answers_and_extra_fields_kept(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"id": 7, "question": "q", "answer": 12, "level": 3}) + "\n")
    (p,) = read_problems(f)
    assert (p.id, p.answer, p.meta) == ("7", "12", {"level": 3})


@pytest.mark.parametrize(
    "line,needle",
    [
        ('{"id": "a", "answer": "1"}', "missing field 'question'"),
        ('{"id": "a", "question": "  ", "answer": "1"}', "field 'question'"),
        ('{"id": "a", "question": "q", "answer": ""}', "field 'answer'"),
        ('{"id": "a", "question": "q", "answer": [1]}', "field 'answer'"),
        ('{"question": "q", "answer": "1"}', "missing field 'id'"),
        ("[1, 2]", "expected a JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_errors_name_file_row_field(tmp_path, line, needle):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"id": "ok", "question": "q", "answer": "1"}\n' + line + "\n")
    with pytest.raises(DataError) as e:
        read_problems(f)
    assert f"{f}:2" in str(e.value) and needle in str(e.value)


def test_duplicate_ids_rejected(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"id": "a", "question": "q", "answer": "1"}\n{"id": "a", "question": "r", "answer": "2"}\n')
    with pytest.raises(DataError, match="repeats row 1"):
        read_problems(f)
