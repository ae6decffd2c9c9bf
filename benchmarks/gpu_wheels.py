"""Build ``.whl/``: the cp312 manylinux wheels ``benchmarks/gpu_check.py`` needs on the lent GPU machine.

That machine runs Python 3.12 with a CUDA torch and an older transformers preinstalled, no TRL,
datasets or pydantic, and no package index; what it lacks travels with the repository, and all of
it must stay under 59 MiB. So this script

1. takes the dependency closure of what the check imports (TRL, accelerate, datasets, pydantic,
   PyYAML, transformers) as installed in this venv, evaluated for CPython 3.12 on Linux x86_64,
   minus torch and what torch itself brings (numpy too: the machine's transformers needs it);
2. downloads each at this venv's version (``PINNED`` below overrides) as a cp312 manylinux wheel,
   without dependencies (``pip download --python-version 3.12 --implementation cp --abi cp312
   --platform manylinux_2_28_x86_64 ... --only-binary=:all: --no-deps``);
3. re-compresses every wheel with LZMA (a wheel is a zip; pip reads LZMA members, and RECORD's
   hashes are of the files, not of the archive), leaving out of pyarrow what the check never loads
   (Flight, S3, headers, tests: ``DROP``), and leaves out the dependencies only command-line tools and
   hub downloads import (``LEFT_OUT``): 88 MB of wheels become ~59 MiB (58.7 measured);
4. fails when the folder is 59 MiB or more, listing the largest wheels.

Installed on the device with ``--target`` (pip ignores what is installed there, so ``--no-deps``
on the explicit wheels) and put first on ``PYTHONPATH``, the folder's transformers shadows the
older one. vLLM does not travel: its wheels alone exceed the limit.

    python benchmarks/gpu_wheels.py [--out .whl] [--limit-mib 59]
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("trl", "accelerate", "datasets", "pydantic", "pyyaml", "transformers")
# on the machine already: torch and its own dependencies, and numpy (transformers needs it)
ON_DEVICE = {"torch", "triton", "setuptools", "sympy", "mpmath", "networkx", "jinja2", "markupsafe", "numpy"}
# pandas 3 needs numpy >= 2; the machine's numpy may be 1.x: pandas 2.2 (what TRL allows) imports on either
PINNED = {"pandas": "2.2.3"}
EXTRA = {"pandas": ("pytz", "tzdata")}  # what a pinned-back version needs that this venv's does not
TARGET = {"python_version": "3.12", "python_full_version": "3.12.0", "sys_platform": "linux",
          "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
          "platform_python_implementation": "CPython", "os_name": "posix", "extra": ""}
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
# declared dependencies that only command-line tools and hub downloads import (the check reads no hub):
# left out, ~5 MiB. (``kernels`` stays: transformers 5.25's from_pretrained raises without it.)
LEFT_OUT = {"typer", "click", "rich", "pygments", "markdown-it-py", "mdurl", "shellingham", "hf-xet",
            "annotated-doc", "tomlkit"}
# members of a wheel the check never loads: pyarrow's Flight and S3 libraries (their modules' imports are
# guarded), its C++ headers, sources and tests, and the extra copies of a library a wheel stores per symlink
DROP = {"pyarrow": re.compile(
    r"^pyarrow/(include/|src/|tests/|_pyarrow_cpp_tests|libarrow_flight|libarrow_python_flight|_flight\.|"
    r"libarrow_s3|_s3fs\.|libarrow_python(_parquet_encryption)?\.so(\.\d+\.\d+\.\d+)?$)")}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots: tuple[str, ...] = ROOTS) -> dict[str, str]:
    """name -> version of ``roots`` and their dependencies for the target, from this environment."""
    from packaging.requirements import Requirement

    seen: dict[str, str] = {}
    todo = [norm(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen or name in ON_DEVICE or name in LEFT_OUT or name.startswith("nvidia-"):
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:  # needed only by a pinned-back version: the index's newest
            seen[name] = PINNED.get(name, "")
            continue
        seen[name] = PINNED.get(name, dist.version)
        todo += [norm(x) for x in EXTRA.get(name, ())]
        for r in dist.requires or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate(TARGET):
                todo.append(norm(req.name))
    return seen


def download(pins: dict[str, str], out: Path, python: str = "3.12") -> None:
    cp = "cp" + python.replace(".", "")
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
           python, "--implementation", "cp", "--abi", cp, "--abi", "abi3", "--abi", "none",
           *[x for p in PLATFORMS for x in ("--platform", p)], "-d", str(out),
           *[f"{k}=={v}" if v else k for k, v in sorted(pins.items())]]
    subprocess.run(cmd, check=True)


def recompress(wheel: Path, drop: re.Pattern[str] | None = None) -> None:
    """Rewrite ``wheel`` with LZMA members (same files and order), without the members ``drop`` matches
    (their RECORD lines go with them)."""
    tmp = wheel.with_suffix(".lzma.tmp")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_LZMA) as dst:
        for info in src.infolist():
            if drop is not None and drop.search(info.filename):
                continue
            data = src.read(info)
            if drop is not None and info.filename.endswith(".dist-info/RECORD"):
                lines = data.decode().splitlines(keepends=True)
                data = "".join(ln for ln in lines if not drop.search(ln.split(",", 1)[0])).encode()
            member = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            member.external_attr = info.external_attr
            member.compress_type = zipfile.ZIP_LZMA
            dst.writestr(member, data)
    if tmp.stat().st_size < wheel.stat().st_size:
        tmp.replace(wheel)
    else:
        tmp.unlink()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / ".whl"))
    ap.add_argument("--limit-mib", type=float, default=59.0)
    ap.add_argument("--python", default="3.12", help="target CPython (3.11: the same folder for a CPU test here)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    TARGET.update(python_version=args.python, python_full_version=f"{args.python}.0")
    pins = closure()
    with tempfile.TemporaryDirectory(prefix="gpu-wheels-", dir=out.parent) as tmp:
        download(pins, Path(tmp), args.python)
        wheels = sorted(Path(tmp).glob("*.whl"))
        got = {norm(w.name.split("-")[0]) for w in wheels}
        if missing := sorted(set(pins) - got):
            print(f"no cp312 manylinux wheel for: {', '.join(missing)}", file=sys.stderr)
            return 1
        for w in wheels:
            recompress(w, DROP.get(norm(w.name.split("-")[0])))
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for w in wheels:
            shutil.move(str(w), out / w.name)
    versions = {norm(w.name.split("-")[0]): w.name.split("-")[1] for w in out.glob("*.whl")}
    (out / "requirements.txt").write_text("".join(f"{k}=={versions[k]}\n" for k in sorted(versions)))
    sizes = sorted(((w.stat().st_size, w.name) for w in out.glob("*.whl")), reverse=True)
    total = sum(s for s, _ in sizes) / 2**20
    print(f"{out}: {len(sizes)} wheels, {total:.1f} MiB (limit {args.limit_mib:g})")
    if total >= args.limit_mib:
        print("largest: " + ", ".join(f"{n} {s / 2**20:.1f} MiB" for s, n in sizes[:5]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
