"""The lab model: what ``labs/<id>/lab.toml`` declares, frozen and validated.

``load_lab()`` turns a lab id (or a lab directory) into a ``Lab``; every validation error names
the file, the key and the fix. ``list_labs()`` lists the bundled labs.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.backends.kinds import KINDS
from labctl.errors import LabError

DEPENDENCY_KINDS = tuple(KINDS)  # what labctl can run: backends.kinds
PROTOCOLS = ("http", "grpc", "tcp")
MAX_REPLICAS = 8
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Dependency:
    name: str
    kind: str
    env: str
    required: bool = True
    image: str | None = None  # the Docker backend's image; LABCTL_<KIND>_IMAGE overrides it


@dataclass(frozen=True)
class UpstreamSpec:
    """A stub the harness runs for the service to call (``labctl.upstreams``)."""

    name: str
    env: str
    handler: str  # "module:callable", the module inside the grader pack


@dataclass(frozen=True)
class Stage:
    slug: str
    title: str
    needs: tuple[str, ...] = ()
    timeout_s: float = 30.0
    points: float | None = None  # what the stage is worth; None: the sum of its checks' points
    partial: bool = True  # false: all of the stage's points or none


@dataclass(frozen=True)
class ServiceSpec:
    """lab.toml ``[service]``: how the learner's service is spoken to and how many run."""

    protocol: str = "http"  # "http" | "grpc" | "tcp": what readiness asks, and how
    health: str = "/healthz"  # HTTP: the path that answers 200 once the service can serve
    probe: str | None = None  # TCP: "module:function" in the grader pack, (host, port) -> bool
    protos: tuple[str, ...] = ()  # gRPC: .proto files in the lab directory, for the graders
    replicas: int = 1  # instances of the service, each its own PORT and REPLICA (0..N-1)
    ready_timeout_s: float = 30.0
    cpus: float = 1.0  # the Docker backend's box for the learner's service
    memory_mb: int = 512
    pids: int = 256


@dataclass(frozen=True)
class Budget:
    """A load budget from lab.toml ``[budgets.<name>]``: the load to send and what must hold.

    ``rate`` req/s for ``duration`` seconds after ``warmup`` seconds; the 99th percentile of
    latency (from the intended send time) at most ``p99_ms``; at most ``max_error_rate`` of the
    requests answered wrongly; at least ``min_achieved_rps`` answered per second.

    With ``clients``, a closed model instead: that many clients, each sending its next request
    as soon as its last one is answered (``rate`` is then 0: as fast as they are answered, and
    ``min_achieved_rps`` is required).
    """

    name: str
    rate: float
    duration_s: float
    p99_ms: float
    warmup_s: float = 1.0
    max_error_rate: float = 0.0
    min_achieved_rps: float = 0.0
    clients: int = 0  # 0: an open model at ``rate``


@dataclass(frozen=True)
class Lab:
    id: str
    title: str
    summary: str
    topics: tuple[str, ...]
    root: Path
    graders_dir: Path
    service: ServiceSpec
    dependencies: tuple[Dependency, ...]
    stages: tuple[Stage, ...]
    budgets: Mapping[str, Budget] = field(default_factory=dict)
    upstreams: tuple[UpstreamSpec, ...] = ()
    builds_on: tuple[str, ...] = ()  # labs to do before this one; it is their "what next"

    @property
    def spec_path(self) -> Path:
        return self.root / "README.md"

    def stage(self, slug: str) -> Stage:
        for stage in self.stages:
            if stage.slug == slug:
                return stage
        known = ", ".join(s.slug for s in self.stages)
        raise LabError(f"lab {self.id!r} has no stage {slug!r}", hint=f"its stages are: {known}")

    def budget(self, name: str) -> Budget:
        if name not in self.budgets:
            known = ", ".join(self.budgets) or "none"
            raise LabError(
                f"lab {self.id!r} has no budget {name!r} (its budgets: {known})",
                hint=f"add a [budgets.{name}] table to lab.toml",
            )
        return self.budgets[name]

    def select(self, only: tuple[str, ...] = (), until: str | None = None) -> tuple[Stage, ...]:
        """The stages to run, in lab order: ``only`` and all they need, or those up to ``until``."""
        if until is not None:
            last = self.stages.index(self.stage(until))
            chosen = {s.slug for s in self.stages[: last + 1]}
        else:
            chosen = set()
        wanted = list(only)
        while wanted:
            slug = wanted.pop()
            if slug not in chosen:
                chosen.add(slug)
                wanted.extend(self.stage(slug).needs)
        if not only and until is None:
            return self.stages
        return tuple(s for s in self.stages if s.slug in chosen)


_PACKAGE = Path(__file__).resolve().parents[1]  # src/labctl, or site-packages/labctl


def repo_root() -> Path | None:
    """The source checkout this module runs from, when it runs from one."""
    root = _PACKAGE.parents[1]
    return root if (root / "labs").is_dir() and (root / "graders").is_dir() else None


def labs_dir() -> Path:
    """Where the labs live: ``$LABCTL_LABS_DIR``, the source checkout, or the installed package."""
    if env := os.environ.get("LABCTL_LABS_DIR"):
        return Path(env)
    if root := repo_root():
        return root / "labs"
    return _PACKAGE / "_bundled" / "labs"


def graders_root(labs: Path) -> Path:
    return labs.parent / "graders"


def list_labs() -> list[Lab]:
    base = labs_dir()
    return [load_lab(p) for p in sorted(base.iterdir()) if (p / "lab.toml").is_file()]


def labs_building_on(lab: Lab) -> list[Lab]:
    """The labs beside ``lab`` whose ``builds_on`` names it: where a learner goes next."""
    siblings = sorted(p for p in lab.root.parent.iterdir() if (p / "lab.toml").is_file())
    return [other for other in map(load_lab, siblings) if lab.id in other.builds_on]


def load_lab(lab: str | Path, *, graders: Path | None = None) -> Lab:
    """Load a lab by id (``url-shortener``) or directory; ``graders`` replaces its grader pack."""
    root = Path(lab) if isinstance(lab, Path) or os.sep in str(lab) else labs_dir() / str(lab)
    path = root / "lab.toml"
    if not path.is_file():
        known = ", ".join(
            sorted(p.name for p in labs_dir().glob("*/") if (p / "lab.toml").exists())
        )
        raise LabError(f"no lab {str(lab)!r}: {path} does not exist", hint=f"labs here: {known}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise LabError(
            f"{path}: not valid TOML: {exc}", hint="fix the syntax at that line"
        ) from exc
    return _parse_lab(data, root.resolve(), path, graders)


def _parse_lab(data: Mapping[str, Any], root: Path, path: Path, graders: Path | None) -> Lab:
    r = _Reader(path)
    lab_id = r.string(data, "id")
    if lab_id != root.name:
        raise LabError(
            f"{path}: key 'id' is {lab_id!r} but the directory is {root.name!r}",
            hint="make the id and the lab's directory name the same",
        )
    pack = graders or graders_root(root.parent) / r.string(data, "graders")
    if not (pack / "__init__.py").is_file() and not any(pack.glob("test_*.py")):
        raise LabError(
            f"{path}: the grader pack {pack} has no test_*.py files",
            hint="set 'graders' to a package under graders/ (or pass --graders DIR)",
        )
    stages = tuple(_parse_stage(r, s, i) for i, s in enumerate(r.table_list(data, "stages")))
    _check_stage_graph(r, stages)
    return Lab(
        id=lab_id,
        title=r.string(data, "title"),
        summary=r.string(data, "summary", default=""),
        topics=tuple(r.string_list(data, "topics")),
        root=root,
        graders_dir=pack.resolve(),
        service=_parse_service(r, r.table(data, "service"), root),
        dependencies=tuple(
            _parse_dependency(r, name, spec) for name, spec in r.table(data, "dependencies").items()
        ),
        stages=stages,
        budgets={
            name: _parse_budget(r, name, spec) for name, spec in r.table(data, "budgets").items()
        },
        upstreams=tuple(
            _parse_upstream(r, name, spec) for name, spec in r.table(data, "upstreams").items()
        ),
        builds_on=_parse_builds_on(r, data, root),
    )


def _parse_builds_on(r: _Reader, data: Mapping[str, Any], root: Path) -> tuple[str, ...]:
    """Other labs' ids, each a lab directory beside this one."""
    names = r.string_list(data, "builds_on")
    for name in names:
        if name == root.name:
            r.fail("builds_on", f"names this lab itself ({name!r})", "name the labs before it")
        if not (_SLUG.match(name) and (root.parent / name / "lab.toml").is_file()):
            known = ", ".join(sorted(p.parent.name for p in root.parent.glob("*/lab.toml")))
            r.fail("builds_on", f"names {name!r}, which is not a lab", f"labs here: {known}")
    return tuple(names)


def _parse_service(r: _Reader, data: Mapping[str, Any], root: Path) -> ServiceSpec:
    protocol = r.string(data, "protocol", default="http", where="service")
    if protocol not in PROTOCOLS:
        r.fail("service.protocol", f"is {protocol!r}", f"use one of: {', '.join(PROTOCOLS)}")
    probe = r.string(data, "probe", where="service") if "probe" in data else None
    if probe is not None and (protocol != "tcp" or not _HANDLER.match(probe)):
        r.fail("service.probe", f"is {probe!r}", 'with protocol = "tcp": "module:function"')
    protos = tuple(r.string_list(data, "protos", where="service"))
    for proto in protos:
        if not (root / proto).is_file():
            r.fail("service.protos", f"names {proto!r}, not a file in {root}", "fix the name")
    replicas = r.number(data, "replicas", default=1, where="service")
    if replicas != int(replicas) or not 1 <= replicas <= MAX_REPLICAS:
        r.fail("service.replicas", f"is {replicas!r}", f"use a whole number, 1 to {MAX_REPLICAS}")
    return ServiceSpec(
        protocol=protocol,
        health=r.string(data, "health", default="/healthz", where="service"),
        probe=probe,
        protos=protos,
        replicas=int(replicas),
        ready_timeout_s=r.number(data, "ready_timeout", default=30.0, where="service"),
        cpus=r.number(data, "cpus", default=1.0, where="service"),
        memory_mb=int(r.number(data, "memory_mb", default=512, where="service")),
        pids=int(r.number(data, "pids", default=256, where="service")),
    )


def _parse_dependency(r: _Reader, name: str, data: Any) -> Dependency:
    where = f"dependencies.{name}"
    if not isinstance(data, dict):
        r.fail(where, "is not a table", f"write it as [{where}] with kind and env")
    kind = r.string(data, "kind", where=where)
    if kind not in DEPENDENCY_KINDS:
        r.fail(f"{where}.kind", f"is {kind!r}", f"use one of: {', '.join(DEPENDENCY_KINDS)}")
    env = r.string(data, "env", where=where)
    if not _ENV_NAME.match(env):
        r.fail(f"{where}.env", f"is {env!r}", "use an upper-case name such as DATABASE_URL")
    image = r.string(data, "image", where=where) if "image" in data else None
    return Dependency(
        name=name, kind=kind, env=env, required=bool(data.get("required", True)), image=image
    )


def _parse_upstream(r: _Reader, name: str, data: Any) -> UpstreamSpec:
    where = f"upstreams.{name}"
    if not isinstance(data, dict):
        r.fail(where, "is not a table", f"write it as [{where}] with env and handler")
    env = r.string(data, "env", where=where)
    if not _ENV_NAME.match(env):
        r.fail(f"{where}.env", f"is {env!r}", "use an upper-case name such as BANK_URL")
    handler = r.string(data, "handler", where=where)
    if not _HANDLER.match(handler):
        r.fail(
            f"{where}.handler",
            f"is {handler!r}",
            "write module:callable, the module inside the grader pack (bank:Bank)",
        )
    return UpstreamSpec(name=name, env=env, handler=handler)


def _parse_stage(r: _Reader, data: Mapping[str, Any], index: int) -> Stage:
    where = f"stages[{index}]"
    slug = r.string(data, "slug", where=where)
    if not _SLUG.match(slug):
        r.fail(f"{where}.slug", f"is {slug!r}", "use lower-case letters, digits and dashes")
    return Stage(
        slug=slug,
        title=r.string(data, "title", where=where),
        needs=tuple(r.string_list(data, "needs", where=where)),
        timeout_s=r.number(data, "timeout", default=30.0, where=where),
        points=r.number(data, "points", where=where) if "points" in data else None,
        partial=r.boolean(data, "partial", default=True, where=where),
    )


def _parse_budget(r: _Reader, name: str, data: Any) -> Budget:
    where = f"budgets.{name}"
    if not isinstance(data, dict):
        r.fail(where, "is not a table", f"write it as [{where}] with rate, duration and p99_ms")
    clients = int(r.number(data, "clients", where=where)) if "clients" in data else 0
    if clients and "rate" in data:
        r.fail(f"{where}.rate", "is set with clients", "a closed model has no rate: remove it")
    rate = 0.0 if clients else r.number(data, "rate", where=where)
    error_rate = data.get("max_error_rate", 0.0)
    if isinstance(error_rate, bool) or not isinstance(error_rate, int | float):
        r.fail(f"{where}.max_error_rate", f"is {error_rate!r}", "use a fraction such as 0.001")
    if not 0 <= error_rate <= 1:
        r.fail(f"{where}.max_error_rate", f"is {error_rate!r}", "use a fraction from 0 to 1")
    default = None if clients else 0.95 * rate
    achieved = r.number(data, "min_achieved_rps", default=default, where=where)
    if not clients and achieved > rate:
        r.fail(f"{where}.min_achieved_rps", f"is {achieved:g}, above the rate {rate:g}", "lower it")
    return Budget(
        name=name,
        rate=rate,
        duration_s=r.number(data, "duration", where=where),
        p99_ms=r.number(data, "p99_ms", where=where),
        warmup_s=r.number(data, "warmup", default=1.0, where=where),
        max_error_rate=float(error_rate),
        min_achieved_rps=achieved,
        clients=clients,
    )


def _check_stage_graph(r: _Reader, stages: tuple[Stage, ...]) -> None:
    seen: set[str] = set()
    for stage in stages:
        if stage.slug in seen:
            r.fail("stages", f"repeat the slug {stage.slug!r}", "give every stage its own slug")
        for need in stage.needs:
            if need not in seen:
                r.fail(
                    f"stages.{stage.slug}.needs",
                    f"names {need!r}, which is not an earlier stage",
                    "a stage may only need stages listed before it",
                )
        seen.add(stage.slug)
    if not stages:
        r.fail("stages", "is empty", "declare at least one [[stages]] table")


class _Reader:
    """Typed access to a TOML table whose errors name the file, the key and the fix."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str, fix: str) -> Any:
        raise LabError(f"{self.path}: key '{key}' {problem}", hint=fix)

    def _get(self, data: Mapping[str, Any], key: str, default: Any, where: str) -> Any:
        if key in data:
            return data[key]
        if default is not None:
            return default
        full = f"{where}.{key}" if where else key
        return self.fail(full, "is missing", f"add {key} = ... to {where or 'the top level'}")

    def string(
        self, data: Mapping[str, Any], key: str, *, default: str | None = None, where: str = ""
    ) -> str:
        value = self._get(data, key, default, where)
        if not isinstance(value, str):
            self.fail(f"{where}.{key}" if where else key, f"is {value!r}", "make it a string")
        return str(value)

    def number(
        self, data: Mapping[str, Any], key: str, *, default: float | None = None, where: str = ""
    ) -> float:
        value = self._get(data, key, default, where)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            self.fail(f"{where}.{key}" if where else key, f"is {value!r}", "use a positive number")
        return float(value)

    def boolean(self, data: Mapping[str, Any], key: str, *, default: bool, where: str = "") -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"{where}.{key}" if where else key, f"is {value!r}", "use true or false")
        return bool(value)

    def string_list(self, data: Mapping[str, Any], key: str, *, where: str = "") -> list[str]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"{where}.{key}" if where else key, f"is {value!r}", "use a list of strings")
        return list(value)

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.fail(key, f"is {value!r}", f"write it as a [{key}] table")
        table: Mapping[str, Any] = value
        return table

    def table_list(self, data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.fail(key, "is not a list of tables", f"write each as [[{key}]]")
        return list(value)
