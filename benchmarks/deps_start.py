"""How fast the local dependency provider brings up Postgres and Redis, against the naive way.

Measures, each in a fresh cache and fresh workdirs:

- Postgres cold: the first start on a machine (initdb into the template cache, copy, start, ready);
- Postgres warm: every later start (copy the template, start, ready), broken down;
- three ways of copying the template (shutil.copytree, cp -a, cp -a --reflink=auto);
- Redis: spawn until PING answers +PONG;
- the baseline: ``initdb`` + ``pg_ctl -w start`` into a new data dir, the naive way.

Usage: python benchmarks/deps_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from labctl._net import free_port
from labctl.backends import local
from labctl.backends.local._find import _version_output, find_postgres, find_redis, version
from labctl.backends.local._pgtemplate import reachable_install, template
from labctl.backends.local._process import User, give, postgres_user


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)  # as root, the postgres user works inside it
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def ms(seconds: list[float]) -> str:
    """median (min–max) in milliseconds."""
    values = [s * 1000 for s in seconds]
    return f"{statistics.median(values):7.1f} ms  ({min(values):.1f}–{max(values):.1f})"


def postgres_start(workdir: Path) -> dict[str, float]:
    """One start through the provider, as a new labctl process would make it."""
    _version_output.cache_clear()  # a new process runs postgres --version once more
    began = time.perf_counter()
    server = local.PostgresServer("postgres", workdir)
    try:
        server.start()
        return server.timings | {"total_s": time.perf_counter() - began}
    finally:
        server.close()


def redis_start(workdir: Path) -> float:
    began = time.perf_counter()
    with local.RedisServer("redis", workdir):
        return time.perf_counter() - began


def copy_methods(source: Path, user: User | None) -> dict[str, Callable[[Path], None]]:
    def copytree(dest: Path) -> None:
        shutil.copytree(source, dest, symlinks=True)
        if user is not None:  # copytree does not keep the owner; cp -a does
            for root, dirs, files in os.walk(dest):
                for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.lchown(name, user.uid, user.gid)

    def cp(*flags: str) -> Callable[[Path], None]:
        return lambda dest: subprocess.run(["cp", *flags, str(source), str(dest)], check=True)

    return {
        "shutil.copytree": copytree,
        "cp -a": cp("-a"),
        "cp -a --reflink=auto": cp("-a", "--reflink=auto"),
    }


def run_as(argv: list[str], user: User | None, cwd: Path, check: bool = True) -> None:
    subprocess.run(
        argv,
        check=check,
        capture_output=True,
        cwd=cwd,
        user=user.uid if user else None,
        group=user.gid if user else None,
        extra_groups=[] if user else None,
    )


def naive_start(bin_dir: Path, user: User | None, workdir: Path) -> float:
    """initdb + pg_ctl -w start: what a harness without a template cache does."""
    give(workdir, user)  # pg_ctl -l writes its log file there as that user
    data = workdir / "data"
    data.mkdir(mode=0o700)
    give(data, user)
    options = f"-p {free_port()} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(workdir / "log"), "-o", options]
    began = time.perf_counter()
    run_as([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres"], user, workdir)
    run_as([*pg_ctl, "-w", "start"], user, workdir)
    elapsed = time.perf_counter() - began
    run_as([*pg_ctl, "-m", "immediate", "stop"], user, workdir, check=False)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    user = postgres_user()
    found = find_postgres()
    print(f"postgres: {version(found.path / 'postgres')} at {found.path} ({found.source})")
    redis = find_redis()
    print(f"redis:    {version(redis.path)} at {redis.path} ({redis.source})")
    print(f"runs: {runs}, as {user.name if user else 'the current user'}, {os.cpu_count()} CPUs\n")

    with scratch("labctl-bench-cache-") as cache:
        os.environ["LABCTL_CACHE_DIR"] = str(cache)
        with scratch("labctl-bench-") as workdir:
            cold = postgres_start(workdir)
        warm = []
        for _ in range(runs):
            with scratch("labctl-bench-") as workdir:
                warm.append(postgres_start(workdir))
        bin_dir = reachable_install(found, user).path
        source = template(bin_dir, user)
        size = sum(f.stat().st_size for f in source.rglob("*") if f.is_file())
        files = sum(1 for _ in source.rglob("*"))
        copies: dict[str, list[float]] = {}
        # Round-robin, so each method sees the same filesystem state (see the note printed last).
        for _ in range(runs):
            for label, copy in copy_methods(source, user).items():
                with scratch("labctl-bench-") as workdir:
                    began = time.perf_counter()
                    copy(workdir / "data")
                    copies.setdefault(label, []).append(time.perf_counter() - began)

    with scratch("labctl-bench-") as workdir:
        redis_times = [redis_start(workdir) for _ in range(runs)]
    naive = []
    for _ in range(max(3, runs // 2)):
        with scratch("labctl-bench-") as workdir:
            naive.append(naive_start(found.path, user, workdir))

    print("Postgres, cold (first start on the machine: template build + copy + start)")
    print(f"  total              {cold['total_s'] * 1000:7.1f} ms")
    print(f"  template build     {cold['template_s'] * 1000:7.1f} ms")
    print(f"Postgres, warm (template cached): median (min–max) of {runs}")
    print(f"  total              {ms([w['total_s'] for w in warm])}")
    print(f"  template lookup    {ms([w['template_s'] for w in warm])}")
    print(f"  copy               {ms([w['copy_s'] for w in warm])}")
    print(f"  start to ready     {ms([w['ready_s'] for w in warm])}")
    print("  copy, run by run   " + " ".join(f"{w['copy_s'] * 1000:.0f}" for w in warm) + " ms")
    print(f"Template: {size / 1e6:.1f} MB in {files} files; copy methods:")
    for label, times in copies.items():
        print(f"  {label:<22} {ms(times)}")
    print(f"Redis: start to PONG {ms(redis_times)}")
    print(f"Baseline, initdb + pg_ctl -w start: {ms(naive)}")
    speedup = statistics.median(naive) / statistics.median([w["total_s"] for w in warm])
    print(f"Warm start is {speedup:.1f}x faster than the baseline")
    print(
        "Note: on ext4 without a journal, inodes freed in the last ~35 s are skipped when new "
        "ones are allocated, so back-to-back create/delete cycles in one directory slow copies."
    )


if __name__ == "__main__":
    main()
