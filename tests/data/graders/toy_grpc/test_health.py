from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2

from labctl.grading import Grpc, expect, stage

pytestmark = stage("health")

CHECK = "/grpc.health.v1.Health/Check"


def test_every_replica_is_serving(grpc_replicas: list[Grpc]) -> None:
    """grpc.health.v1 Check answers SERVING on every replica"""
    for i, client in enumerate(grpc_replicas):
        check = client.channel.unary_unary(
            CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            reply = check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        except grpc.RpcError as exc:
            raise expect.fail(
                f"replica {i}: Health/Check answered {exc.code().name}",
                expected="SERVING",
                got=f"{exc.code().name}: {exc.details()}",
                hint="serve the standard grpc.health.v1 health service",
            ) from None
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        expect.equal(status, "SERVING", what=f"replica {i}'s health")
