"""The learner's submission: where their project is and how to build and run it.

A project describes itself in ``labctl.toml``::

    lab = "url-shortener"
    [service]
    build = "npm ci"          # optional, run once before start; its time never counts
    run = "node server.js"    # the start command, run in the project directory
    dockerfile = "Dockerfile" # for --backend docker: built with the project dir as context
    # context = "."           # optional: another build context, relative to the project dir
    # build_args = { SOLUTION = "x" }   # optional: --build-arg values

``--run`` on the command line overrides (or replaces) ``run``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.errors import SubmissionError

CONFIG_NAME = "labctl.toml"
_SERVICE_KEYS = {"build", "run", "dockerfile", "context", "build_args"}


@dataclass(frozen=True)
class Submission:
    path: Path
    run: str
    build: str | None = None
    lab: str | None = None
    dockerfile: str | None = None  # relative to ``context``'s directory, as docker build -f
    context: str = "."  # relative to ``path``
    build_args: tuple[tuple[str, str], ...] = ()

    @property
    def context_dir(self) -> Path:
        return (self.path / self.context).resolve()


def load_submission(path: Path, *, run: str | None = None) -> Submission:
    """Read ``path/labctl.toml`` (optional when ``run`` is given) into a ``Submission``."""
    if not path.is_dir():
        raise SubmissionError(
            f"--path {path}: no such directory",
            hint="point --path at your project's directory (the one holding labctl.toml)",
        )
    config = path / CONFIG_NAME
    if not config.is_file() and not run:
        raise SubmissionError(
            f"no {CONFIG_NAME} in {path.resolve()}: which lab, and how does your service start?",
            hint="run labctl in your project's directory (or pass --path DIR); start a project "
            f"with `labctl init LAB` (see `labctl list`), or write {CONFIG_NAME}:\n"
            '  lab = "url-shortener"\n  [service]\n  run = "python3 app.py"',
        )
    data = _read(config) if config.is_file() else {}
    service = data.get("service", {})
    if not isinstance(service, dict):
        raise SubmissionError(f"{config}: key 'service' must be a table", hint="write [service]")
    unknown = set(service) - _SERVICE_KEYS
    if unknown:
        raise SubmissionError(
            f"{config}: unknown key service.{sorted(unknown)[0]}",
            hint=f"[service] takes: {', '.join(sorted(_SERVICE_KEYS))}",
        )
    command = run or service.get("run")
    if not command and "dockerfile" in service:
        command = ""  # a Dockerfile-only project: the Docker backend needs no start command
    elif not command:
        raise SubmissionError(
            f"no start command: {config} has no [service] run = ..., and no --run was given",
            hint=f'add to {config}:\n  [service]\n  run = "python3 app.py"\nor pass --run "CMD"',
        )
    return Submission(
        path=path.resolve(),
        run=_text(config, "service.run", command) if command else "",
        build=_text(config, "service.build", service["build"]) if "build" in service else None,
        lab=_text(config, "lab", data["lab"]) if "lab" in data else None,
        **_docker_keys(config, path, service),
    )


def _docker_keys(config: Path, path: Path, service: dict[str, Any]) -> dict[str, Any]:
    """The [service] keys of the Docker backend, checked: the file must exist in the context."""
    if "dockerfile" not in service:
        return {}
    context = _text(config, "service.context", service.get("context", "."))
    dockerfile = _text(config, "service.dockerfile", service["dockerfile"])
    if not (path / context).is_dir():
        raise SubmissionError(
            f"{config}: service.context {context!r} is not a directory",
            hint="make it a path relative to the project directory",
        )
    if not (path / context / dockerfile).is_file():
        raise SubmissionError(
            f"{config}: service.dockerfile {dockerfile!r}: no such file in {path / context}",
            hint="name the Dockerfile relative to the build context (default: the project dir)",
        )
    args = service.get("build_args", {})
    if not isinstance(args, dict) or not all(isinstance(v, str) for v in args.values()):
        raise SubmissionError(
            f"{config}: service.build_args must be a table of strings",
            hint='write build_args = { NAME = "value" }',
        )
    return {"dockerfile": dockerfile, "context": context, "build_args": tuple(args.items())}


def _read(config: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(config.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SubmissionError(f"{config}: not valid TOML: {exc}", hint="fix that line") from exc


def _text(config: Path, key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SubmissionError(
            f"{config}: key {key!r} is {value!r}", hint="make it a non-empty string"
        )
    return value
