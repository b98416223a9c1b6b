"""A tiny gRPC service for the toy-grpc lab: toy.v1.Toy/Echo and the standard health service.

MODE: ok (default), bad-replica-1 (replica 1 echoes the wrong text), no-health (no health
service), wrong-port (listens on PORT + 1).
"""

import os
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_tools import protoc

PROTO_DIR = Path(
    os.environ.get("TOY_PROTO_DIR") or Path(__file__).resolve().parents[2] / "data/labs/toy-grpc"
)
MODE = os.environ.get("MODE", "ok")
REPLICA = int(os.environ.get("REPLICA", "0"))

out = tempfile.mkdtemp(prefix="toy-grpc-")
protoc.main(
    ["protoc", f"-I{PROTO_DIR}", f"--python_out={out}", f"--grpc_python_out={out}", "toy.proto"]
)
sys.path.insert(0, out)
import toy_pb2  # noqa: E402
import toy_pb2_grpc  # noqa: E402


class Toy(toy_pb2_grpc.ToyServicer):
    def Echo(self, request, context):
        print(f"replica {REPLICA}: echo {request.text!r}", flush=True)
        if not request.text:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "text is empty")
        text = "wrong" if MODE == "bad-replica-1" and REPLICA == 1 else request.text
        return toy_pb2.EchoReply(text=text, replica=REPLICA)


port = int(os.environ["PORT"]) + (1 if MODE == "wrong-port" else 0)
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
toy_pb2_grpc.add_ToyServicer_to_server(Toy(), server)
if MODE != "no-health":
    checker = health.HealthServicer()
    checker.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
server.add_insecure_port(f"0.0.0.0:{port}")
server.start()
print(f"replica {REPLICA} serving on {port}", flush=True)
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    server.stop(1)
