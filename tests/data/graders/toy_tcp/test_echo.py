from __future__ import annotations

from labctl.grading import Service, expect, stage

from .test_ping import ask

pytestmark = stage("echo")


def test_echo_answers_its_argument(service: Service) -> None:
    """ECHO hello answers hello"""
    expect.equal(ask(service, b"ECHO hello\r\n"), b"hello\r\n", what="the answer to ECHO hello")
