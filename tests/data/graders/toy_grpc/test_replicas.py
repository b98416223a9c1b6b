from __future__ import annotations

from labctl.grading import Grpc, Protos, Service, expect, stage

pytestmark = stage("replicas")


def test_a_killed_replica_comes_back(service: Service, protos: Protos) -> None:
    """Replica 1, killed, is another process once started again, and answers"""
    second = service.replicas[1]
    before = second.identity()
    assert before is not None
    assert second.kill() == -9
    assert not second.running
    second.start()
    assert second.wait_ready(10)
    after = second.identity()
    assert after is not None
    assert after != before
    with Grpc(second.address, protos) as client:
        reply = expect.grpc_ok(client.call("toy.v1.Toy/Echo", {"text": "back"}))
    expect.equal(reply.replica, 1, what="the restarted replica's number")
    assert service.replicas[0].running  # the other replica was never touched
