"""What a run was, so it can be trusted and replayed: the ``run`` section of every report's meta.

labctl's version, the lab's version (a hash of the lab's files and its grader pack, so two
runs of "the same lab" with different graders never look alike), the seed, the backend, the
limits the checks ran under, and the facts of the machine that ran them.
"""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from labctl import __version__
from labctl.backends import Backend
from labctl.model.lab import Lab

_SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".pytest_cache", ".mypy_cache"})


def describe_run(
    lab: Lab, *, seed: int, ready_timeout_s: float | None, backend: Backend
) -> dict[str, Any]:
    limits: dict[str, Any] = {
        "ready_timeout_s": ready_timeout_s or lab.service.ready_timeout_s,
        "stage_timeouts_s": {s.slug: s.timeout_s for s in lab.stages},
    }
    limits |= backend.limits(lab)  # the box the learner's service ran in, if any
    return {
        "labctl_version": __version__,
        "lab_version": lab_version(lab),
        "seed": seed,
        "backend": backend.name,
        "limits": limits,
        "machine": machine(),
    }


def lab_version(lab: Lab) -> str:
    """``sha256:`` and 16 hex digits over the lab's and the grader pack's files and names."""
    digest = hashlib.sha256()
    for label, root in (("lab", lab.root), ("graders", lab.graders_dir)):
        for path in _files(root):
            digest.update(f"{label}/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return f"sha256:{digest.hexdigest()[:16]}"


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count() or 1,
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_mb": psutil.virtual_memory().total // 2**20,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for name in sorted(filenames):
            if not name.endswith((".pyc", ".pyo")):
                yield Path(dirpath) / name
