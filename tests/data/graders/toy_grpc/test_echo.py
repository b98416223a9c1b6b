from __future__ import annotations

from labctl.grading import Grpc, expect, stage

pytestmark = stage("echo")


def test_every_replica_echoes_and_names_itself(grpc_replicas: list[Grpc]) -> None:
    """Echo answers the text it was sent, and the replica number"""
    for i, client in enumerate(grpc_replicas):
        answer = client.call("toy.v1.Toy/Echo", {"text": f"hello {i}"})
        reply = expect.grpc_ok(answer)
        expect.equal(reply.text, f"hello {i}", what=f"replica {i}'s echo", response=answer)
        expect.equal(reply.replica, i, what=f"the replica number replica {i} answered with")


def test_an_empty_text_is_refused(grpc: Grpc) -> None:
    """Echo of an empty text answers INVALID_ARGUMENT"""
    expect.grpc_status(grpc.call("toy.v1.Toy/Echo", {"text": ""}), "INVALID_ARGUMENT")
