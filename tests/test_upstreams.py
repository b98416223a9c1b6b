"""Upstream stubs: declared in lab.toml, handler from the grader pack, recorded requests and the
misbehaviour graders program (latency, errors, seeded failures, hangs, hooks), reset per check."""

from __future__ import annotations

import shutil
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from labctl.errors import LabError
from labctl.model.lab import UpstreamSpec, load_lab
from labctl.upstreams import Reply, StubRequest, Upstream, load_handler, start_all
from tests.conftest import ROOT, labctl, labctl_env

ECHO = '''
from labctl.upstreams import Reply

class Echo:
    """A stub a new lab could declare: answers what it was sent, counts calls."""

    def __init__(self):
        self.calls = 0
        self.pack = __file__.rsplit("/", 1)[0]

    def __call__(self, request):
        self.calls += 1
        return Reply.json(200, {"path": request.path, "body": request.body.decode()})
'''


@pytest.fixture
def pack(tmp_path: Path) -> Iterator[Path]:
    """A grader pack of a lab that is not in the repo, with a stub handler of its own."""
    name = f"echo_lab_{uuid.uuid4().hex[:8]}"
    pack = tmp_path / "graders" / name
    pack.mkdir(parents=True)
    (pack / "__init__.py").write_text("")
    (pack / "echo.py").write_text(ECHO)
    path = list(sys.path)
    yield pack
    sys.path[:] = path
    for module in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[module]


@pytest.fixture
def echo(pack: Path) -> Iterator[Upstream]:
    [stub] = start_all((UpstreamSpec("echo", "ECHO_URL", "echo:Echo"),), pack).values()
    yield stub
    stub.close()


# One client: httpx.post() would load the CA bundle (~50 ms) for every call.
_CLIENT = httpx.Client(trust_env=False, verify=False)


@pytest.fixture(scope="module", autouse=True)
def _close_client() -> Iterator[None]:
    """Its keep-alive connections to this module's stubs close with the module, not at exit."""
    yield
    _CLIENT.close()


def post(stub: Upstream, body: str = "{}", timeout: float = 5.0) -> httpx.Response:
    return _CLIENT.post(f"{stub.url}/things", content=body, timeout=timeout)


def test_a_new_stub_needs_only_a_declaration_and_a_handler(echo: Upstream) -> None:
    assert echo.url.startswith("http://127.0.0.1:")
    resp = post(echo, '{"n": 1}')
    assert resp.json() == {"path": "/things", "body": '{"n": 1}'}
    # The name pytest gives the module when it collects the pack: graders share its state.
    assert type(echo.handler).__module__ == f"{Path(echo.handler.pack).name}.echo"  # type: ignore[attr-defined]
    assert echo.handler.calls == 1  # type: ignore[attr-defined]
    [got] = echo.received()
    assert (got.request.method, got.request.path, got.request.json()) == (
        "POST",
        "/things",
        {"n": 1},
    )
    assert (got.outcome, got.status, got.executed) == ("answered", 200, True)


def test_fail_next_answers_errors_without_running_the_handler(echo: Upstream) -> None:
    echo.fail_next(2, status=500)
    assert [post(echo).status_code for _ in range(3)] == [500, 500, 200]
    assert [r.outcome for r in echo.received()] == ["injected", "injected", "answered"]
    assert echo.handler.calls == 1  # type: ignore[attr-defined]


def test_fail_fraction_is_seeded(echo: Upstream) -> None:
    def statuses() -> list[int]:
        echo.fail_fraction(0.3, seed="s1", status=503)
        got = [post(echo).status_code for _ in range(40)]
        echo.reset()
        return got

    first, second = statuses(), statuses()
    assert first == second
    assert 3 <= first.count(503) <= 25


def test_latency_delays_each_call(echo: Upstream) -> None:
    echo.latency(0.2)
    started = time.monotonic()
    post(echo)
    assert time.monotonic() - started >= 0.2


def test_hang_outlasts_the_caller_and_reset_releases_it(echo: Upstream) -> None:
    echo.hang_next(1)
    with pytest.raises(httpx.ReadTimeout):
        post(echo, timeout=0.3)
    assert echo.received()[-1].outcome == "hung"
    assert echo.handler.calls == 0  # type: ignore[attr-defined]
    echo.reset()
    assert post(echo).status_code == 200


def test_hang_after_execute_does_the_work_and_loses_the_answer(echo: Upstream) -> None:
    echo.hang_next(1, execute=True)
    with pytest.raises(httpx.ReadTimeout):
        post(echo, timeout=0.3)
    last = echo.received()[-1]
    assert (last.outcome, last.executed, echo.handler.calls) == ("hung", True, 1)  # type: ignore[attr-defined]


def test_hook_runs_after_the_handler_before_the_answer(echo: Upstream) -> None:
    seen: list[tuple[str, int, int]] = []

    def hook(request: StubRequest, reply: Reply) -> None:
        seen.append((request.path, reply.status, echo.handler.calls))  # type: ignore[attr-defined]

    echo.after_next(hook, when=lambda request, reply: request.body == b"fire")
    post(echo, "no")
    post(echo, "fire")
    post(echo, "fire")
    assert seen == [("/things", 200, 2)]  # once, after the handler ran, for the matching call


def test_reset_forgets_behaviour_but_keeps_records_and_state(echo: Upstream) -> None:
    echo.fail_next(5)
    echo.latency(0.1)
    post(echo)
    mark = echo.mark()
    echo.reset()
    assert post(echo).status_code == 200
    assert len(echo.received()) == 2
    assert len(echo.received(mark)) == 1


def test_close_releases_hung_calls(pack: Path) -> None:
    [stub] = start_all((UpstreamSpec("echo", "ECHO_URL", "echo:Echo"),), pack).values()
    stub.hang_next(1)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            post(stub, timeout=10)
        except httpx.HTTPError as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while not stub.received():
        time.sleep(0.01)
    started = time.monotonic()
    stub.close()
    caller.join(5)
    assert not caller.is_alive()
    assert time.monotonic() - started < 5
    assert len(errors) == 1  # hung up without an answer


def test_stub_binds_where_asked_and_is_reached_there(pack: Path) -> None:
    spec = UpstreamSpec("echo", "ECHO_URL", "echo:Echo")
    [stub] = start_all((spec,), pack, bind="127.0.0.2").values()
    try:
        assert stub.port > 0
        assert stub.url == f"http://127.0.0.2:{stub.port}"
        assert httpx.get(f"{stub.url}/").status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{stub.port}/")
    finally:
        stub.close()


def test_a_handler_that_cannot_load_is_a_lab_error(pack: Path) -> None:
    with pytest.raises(LabError) as info:
        load_handler(UpstreamSpec("bank", "BANK_URL", "echo:Nope"), pack)
    assert "upstreams.bank.handler" in info.value.message
    assert "module:callable" in info.value.hint


def test_a_handler_that_raises_answers_500_and_is_recorded(pack: Path) -> None:
    (pack / "broken.py").write_text("def make():\n    return lambda request: 1 / 0\n")
    [stub] = start_all((UpstreamSpec("b", "B_URL", "broken:make"),), pack).values()
    try:
        assert httpx.get(f"{stub.url}/").status_code == 500
        assert stub.errors == ["ZeroDivisionError: division by zero"]
        assert stub.received()[0].outcome == "error"
    finally:
        stub.close()


def test_the_payments_lab_declares_its_bank() -> None:
    lab = load_lab("idempotent-payments")
    assert lab.upstreams == (UpstreamSpec("bank", "BANK_URL", "bank:Bank"),)


@pytest.mark.parametrize(
    ("old", "new", "key", "fix"),
    [
        ('env = "BANK_URL"', 'env = "bank"', "upstreams.bank.env", "upper-case"),
        ('handler = "bank:Bank"', 'handler = "bank.Bank"', "upstreams.bank.handler", "module:"),
        ('handler = "bank:Bank"', "", "upstreams.bank.handler", "add handler"),
    ],
)
def test_invalid_upstream_names_file_key_and_fix(
    tmp_path: Path, old: str, new: str, key: str, fix: str
) -> None:
    lab = tmp_path / "labs" / "idempotent-payments"
    shutil.copytree(ROOT / "labs" / "idempotent-payments", lab)
    shutil.copytree(ROOT / "graders", tmp_path / "graders")
    toml = lab / "lab.toml"
    toml.write_text(toml.read_text().replace(old, new, 1))
    with pytest.raises(LabError) as info:
        load_lab(lab)
    assert f"'{key}'" in info.value.message
    assert fix in info.value.hint


STUBBY_LAB = """
id = "stubby"
title = "A lab with a stub"
graders = "stubby"

[service]
ready_timeout = 10

[upstreams.echo]
env = "ECHO_URL"
handler = "echo:Echo"

[[stages]]
slug = "calls"
title = "Calls"
"""

STUBBY_GRADERS = """
import httpx

from labctl.grading import stage

pytestmark = stage("calls")


def test_programmed(upstreams):
    upstreams["echo"].fail_next(5, status=418)
    assert httpx.get(upstreams["echo"].url + "/").status_code == 418


def test_reset_after_the_check(upstreams):
    assert httpx.get(upstreams["echo"].url + "/").status_code == 200


def test_stub_crash_is_a_grader_error(upstreams):
    httpx.get(upstreams["echo"].url + "/", params={"crash": "1"})
"""


def test_stubs_in_a_real_run_reset_per_check_and_their_crashes_are_grader_errors(
    tmp_path: Path,
) -> None:
    """A lab outside the repo declares a stub; the grading plugin hands it to checks, resets
    its behaviour after each, and turns a crash of the stub's handler into an error."""
    (tmp_path / "labs" / "stubby").mkdir(parents=True)
    (tmp_path / "labs" / "stubby" / "lab.toml").write_text(STUBBY_LAB)
    pack = tmp_path / "graders" / "stubby"
    pack.mkdir(parents=True)
    (pack / "__init__.py").write_text("")
    (pack / "echo.py").write_text(
        ECHO.replace("self.calls += 1", "self.calls += 1\n        assert not request.query")
    )
    (pack / "test_calls.py").write_text(STUBBY_GRADERS)
    service = f"{sys.executable} {ROOT / 'tests' / 'services' / 'toy.py'}"
    run = labctl(
        ["check", "stubby", "--path", str(tmp_path), "--run", service],
        tmp_path=tmp_path,
        env=labctl_env(LABCTL_LABS_DIR=str(tmp_path / "labs")),
    )
    assert run.report is not None, run.stderr
    checks = {c["id"]: c for s in run.report["stages"] for c in s["checks"]}
    assert [c["status"] for c in checks.values()] == ["pass", "pass", "error"], run.stdout
    assert (
        "upstream stub 'echo': AssertionError"
        in checks["calls/stub-crash-is-a-grader-error"]["message"]
    )
    assert run.report["meta"]["environment"]["upstreams"]["echo"].startswith("http://127.0.0.1:")
