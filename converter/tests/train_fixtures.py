"""Shared helpers of the training tests: run clipgen-train in-process or under torchrun, read its loss logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from clipgen_train.cli import main

CONVERTER_DIR = Path(__file__).resolve().parents[1]
#: Options of every tiny test run: seconds per stage, one thread (the machine is shared).
TINY = ["--preset", "tiny", "--no-progress", "--threads", "1"]


def train(*argv) -> int:
    """clipgen-train in this process; returns its exit status."""
    return main([str(a) for a in argv] + TINY)


def env() -> dict[str, str]:
    """The environment of a child process: this checkout's packages first, one thread per process."""
    path = os.pathsep.join([str(CONVERTER_DIR), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def train_subprocess(*argv, nproc: int = 1, **kwargs) -> subprocess.Popen:
    """clipgen-train in child processes: `python -m clipgen_train` alone, under torchrun when nproc > 1."""
    launcher = [sys.executable, "-m", "clipgen_train"]
    if nproc > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                    "-m", "clipgen_train"]
    return subprocess.Popen(launcher + [str(a) for a in argv] + TINY, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def losses(out: Path) -> list[dict]:
    """The loss log of a stage's output folder, without the wall-clock column."""
    with open(out / "losses.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for row in rows:
        row.pop("seconds")
    return rows
