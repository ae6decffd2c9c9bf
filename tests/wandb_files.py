"""Read back a W&B offline run (``run-*.wandb``): its history rows, summary keys and artifacts.

wandb >= 0.2x writes the run as a LevelDB-style log of protobuf ``Record`` messages and no
longer ships a Python reader, so this is the reader (32 KiB blocks; each chunk has a 7-byte
header: crc32, little-endian length, type FULL/FIRST/MIDDLE/LAST).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

_BLOCK = 32768
_HEADER = b":W&B"


def records(path: str | Path, wait_s: float = 60.0) -> list[Any]:
    """The run's records; waits (up to ``wait_s``) for its exit record, since ``run.finish()`` can return
    while wandb-core is still writing the file on a loaded machine."""
    import time

    from google.protobuf.message import DecodeError

    deadline = time.monotonic() + wait_s
    while True:
        try:
            out = _read(path)
        except DecodeError:  # read while wandb-core was mid-way through a record: read again
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
            continue
        if any(r.WhichOneof("record_type") == "exit" for r in out) or time.monotonic() > deadline:
            return out
        time.sleep(0.5)


def _read(path: str | Path) -> list[Any]:
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == _HEADER, f"{path}: not a W&B run file"
    pos, out, pending = 7, [], b""
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if pos + 7 + length > len(data):  # the tail is still being written
            break
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            pos += _BLOCK - pos % _BLOCK if pos % _BLOCK else 0
            continue
        if kind == 1:
            pending = chunk
        elif kind == 2:
            pending = chunk
            continue
        elif kind == 3:
            pending += chunk
            continue
        elif kind == 4:
            pending += chunk
        rec = pb.Record()
        rec.ParseFromString(pending)
        out.append(rec)
        pending = b""
    return out


def _key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def history(path: str | Path) -> list[dict[str, Any]]:
    return [{_key(i): json.loads(i.value_json) for i in r.history.item}
            for r in records(path) if r.WhichOneof("record_type") == "history"]


def artifacts(path: str | Path) -> list[tuple[str, str]]:
    return [(r.artifact.name, r.artifact.type) for r in records(path) if r.WhichOneof("record_type") == "artifact"]


def summary_keys(path: str | Path) -> set[str]:
    return {_key(i) for r in records(path) if r.WhichOneof("record_type") == "summary" for i in r.summary.update}


def run_file(run_dir: str | Path) -> Path:
    files = sorted(Path(run_dir).rglob("offline-run-*/run-*.wandb"))
    assert files, f"no W&B offline run under {run_dir}"
    return files[-1]
