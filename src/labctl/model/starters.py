"""Starter projects, and ``labctl init`` writing one out.

A lab's starters live with it, one directory per language: ``labs/<lab>/starters/<language>/``.
Each is a project that passes the lab's first stage and nothing else: plain files, copied as
they are, in which these placeholders are replaced (in text files; binary files are copied
byte for byte):

==========================  ====================================================================
``{{lab}}``                 the lab's id (``url-shortener``)
``{{lab_title}}``           its title
``{{project}}``             the project directory's name, fit for a package or module name
``{{first_stage}}``         the stage to work on first: the lab's second (starters pass the first)
``{{first_stage_title}}``   that stage's title
``{{health}}``              the service's health path (``/healthz``)
``{{protos}}``              the lab's ``.proto`` files, space-separated (empty when it has none)
==========================  ====================================================================

Any other ``{{name}}`` is an error in the starter. Every ``*.proto`` file in the lab's directory
is copied into the project beside the starter's files, so a starter's README can give the
code-generation command (``protoc ... {{protos}}``) and its ``labctl.toml`` can run it as its
``build`` step. A lab author adds a language by adding a directory; nothing in labctl changes.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from labctl.errors import ConfigError, LabError
from labctl.model.lab import Lab

STARTERS_DIR = "starters"
_PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}")
_KEPT_IN_EMPTY_DIR = {".git"}  # `git init` first, then `labctl init .`, is a fine order


@dataclass(frozen=True)
class File:
    path: str  # relative to the project, with forward slashes
    content: bytes
    mode: int


@dataclass(frozen=True)
class Written:
    """What ``init`` did: where, which files, and which of them it replaced (``--force``)."""

    target: Path
    language: str
    files: tuple[str, ...]
    overwritten: tuple[str, ...]


def languages(lab: Lab) -> list[str]:
    """The languages ``lab`` has starters in, sorted."""
    root = lab.root / STARTERS_DIR
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def first_stage(lab: Lab) -> str:
    """The stage a starter leaves to the learner: the one after the first."""
    return lab.stages[min(1, len(lab.stages) - 1)].slug


def render(lab: Lab, language: str, project: str) -> list[File]:
    """The files of ``lab``'s ``language`` starter for a project named ``project``."""
    source = _starter_dir(lab, language)
    values = _values(lab, project)
    files = [
        _render_file(path, path.relative_to(source).as_posix(), values)
        for path in sorted(source.rglob("*"))
        if path.is_file()
    ]
    own = {f.path for f in files}
    protos = [p for p in sorted(lab.root.glob("*.proto")) if p.name not in own]
    return files + [_render_file(proto, proto.name, {}) for proto in protos]


def init(lab: Lab, language: str, target: Path, *, force: bool = False) -> Written:
    """Write the starter into ``target``, which must be empty unless ``force``."""
    files = render(lab, language, _project_name(target.resolve().name, lab.id))
    _check_target(target, force)
    existing = {f.path for f in files if (target / f.path).exists()}
    _write_all(target, files)
    paths = tuple(f.path for f in files)
    return Written(target, language, paths, tuple(p for p in paths if p in existing))


def _starter_dir(lab: Lab, language: str) -> Path:
    known = languages(lab)
    if language not in known:
        offered = ", ".join(known) or "none yet"
        raise ConfigError(
            f"lab {lab.id!r} has no {language!r} starter",
            hint=f"its starters: {offered} (labctl init {lab.id} DIR --lang LANGUAGE)",
        )
    return lab.root / STARTERS_DIR / language


def _values(lab: Lab, project: str) -> dict[str, str]:
    first = lab.stage(first_stage(lab))
    return {
        "lab": lab.id,
        "lab_title": lab.title,
        "project": project,
        "first_stage": first.slug,
        "first_stage_title": first.title,
        "health": lab.service.health,
        "protos": " ".join(p.name for p in sorted(lab.root.glob("*.proto"))),
    }


def _render_file(path: Path, relative: str, values: Mapping[str, str]) -> File:
    content = path.read_bytes()
    mode = path.stat().st_mode & 0o777
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return File(relative, content, mode)  # binary: copied as it is
    if not values:
        return File(relative, content, mode)
    return File(relative, _PLACEHOLDER.sub(_substitute(path, values), text).encode(), mode)


def _substitute(path: Path, values: Mapping[str, str]) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name not in values:
            known = ", ".join(f"{{{{{key}}}}}" for key in values)
            raise LabError(
                f"{path}: unknown placeholder {match[0]}",
                hint=f"a starter may use: {known}",
            )
        return values[name]

    return replace


def _project_name(directory: str, fallback: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", directory.lower()).strip("-")
    return name if name and name[0].isalpha() else fallback


def _check_target(target: Path, force: bool) -> None:
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} is a file", hint="name a directory for the new project")
    if force or not target.exists():
        return
    present = sorted(p.name for p in target.iterdir() if p.name not in _KEPT_IN_EMPTY_DIR)
    if present:
        shown = ", ".join(present[:5]) + (", ..." if len(present) > 5 else "")
        raise ConfigError(
            f"{target} is not empty ({shown})",
            hint="name a new or empty directory, or pass --force to write over what is there",
        )


def _write_all(target: Path, files: list[File]) -> None:
    """Every file or none: a failure (or Ctrl-C) removes what this call had created."""
    created: list[Path] = []
    try:
        _make_parents(target, created)
        for f in files:
            dest = target / f.path
            _make_parents(dest.parent, created)
            if not dest.exists():
                created.append(dest)
            _write_file(dest, f)
    except BaseException:
        for path in reversed(created):
            path.unlink() if path.is_file() else _rmdir_quietly(path)
        raise


def _make_parents(directory: Path, created: list[Path]) -> None:
    missing = [p for p in [directory, *directory.parents] if not p.exists()]
    for path in reversed(missing):
        path.mkdir()
        created.append(path)


def _write_file(dest: Path, f: File) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(f.content)
        os.chmod(tmp, f.mode)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _rmdir_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: something else was put there meanwhile
        path.rmdir()
