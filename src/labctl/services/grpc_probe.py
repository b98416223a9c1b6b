"""gRPC readiness: the standard ``grpc.health.v1.Health/Check`` for the whole server (``""``).

Any gRPC status means the server is up; SERVING means ready. A server without the health service
answers UNIMPLEMENTED, which waiting will not change. Each probe uses a channel of its own: a
channel that failed to connect waits out a reconnect backoff, which would delay the next probe.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2

from labctl.services.readiness import Answer, Miss

__all__ = ["GrpcProbe"]

_OPTIONS = [("grpc.enable_retries", 0), ("grpc.max_receive_message_length", 4 * 2**20)]
_CHECK = "/grpc.health.v1.Health/Check"
_FINAL = frozenset({grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.NOT_FOUND})


class GrpcProbe:
    protocol = "gRPC"
    question = "grpc.health.v1.Health/Check"
    garbled_hint = (
        "serve gRPC (HTTP/2) on $PORT with the standard health service "
        "(grpc.health.v1: grpcio-health-checking, grpc-go's health package, ...)"
    )

    def up(self, host: str, port: int, timeout_s: float) -> Miss | None:
        outcome = self.ready(host, port, timeout_s)
        return outcome if isinstance(outcome, Miss) else None

    def ready(self, host: str, port: int, timeout_s: float) -> Answer | Miss:
        request = health_pb2.HealthCheckRequest(service="")
        with grpc.insecure_channel(f"{host}:{port}", options=_OPTIONS) as channel:
            check = channel.unary_unary(
                _CHECK,
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            try:
                reply = check(request, timeout=max(0.05, min(timeout_s, 2.0)))
            except grpc.RpcError as exc:
                return _classify(exc)
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return Answer(status == "SERVING", status)


def _classify(exc: grpc.RpcError) -> Answer | Miss:
    code: grpc.StatusCode = exc.code()
    details = str(exc.details() or "")
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return Miss("timeout")
    if code is grpc.StatusCode.UNAVAILABLE:
        lowered = details.lower()
        if "connection refused" in lowered or "connect failed" in lowered:
            return Miss("refused", details)
        return Miss("garbled", details)
    said = code.name if code not in _FINAL else f"{code.name}: no grpc.health.v1 service"
    return Answer(False, said, final=code in _FINAL)
