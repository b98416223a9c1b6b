"""The graders' gRPC client: calls by method name, answers a learner can act on.

A lab lists its ``.proto`` files in lab.toml (``[service] protos = ["ratelimit.proto"]``); they
are compiled with grpcio-tools into the run's temp dir when a grader first asks (``Protos``),
never committed: the proto the learner reads is the only source. ``Grpc`` calls a replica by
full method name with a dict or a message, and returns a ``GrpcAnswer`` (status, details,
reply) instead of raising, so a grader can expect any status; each answer carries a ``grpcurl``
line that reproduces the call, shown by ``expect.grpc_status`` when it fails.
"""

from __future__ import annotations

import importlib
import json
import shlex
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from grpc_tools import protoc

from labctl.errors import Exchange, LabError

__all__ = ["Grpc", "GrpcAnswer", "Protos"]

_MAX_MESSAGE = 4 * 2**20  # the graders read at most this much of one reply
_OPTIONS = [
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
    ("grpc.enable_retries", 0),  # a failure is the service's, never hidden by a retry
]


class Protos:
    """A lab's .proto files, compiled on first use; ``method()`` finds an RPC by name."""

    def __init__(self, lab_root: Path, files: tuple[str, ...], out_dir: Path) -> None:
        self.lab_root = lab_root
        self.files = files
        self._out = out_dir
        self._modules: dict[str, Any] = {}
        self._lock = threading.Lock()

    def messages(self, proto: str) -> Any:
        """The ``*_pb2`` module of ``proto`` (``"ratelimit.proto"``): its message classes."""
        return self._load(proto)[0]

    def services(self, proto: str) -> Any:
        """The ``*_pb2_grpc`` module of ``proto``: its stubs and servicers."""
        return self._load(proto)[1]

    def method(self, name: str) -> MethodDescriptor:
        """``package.Service/Method`` (or ``/package.Service/Method``) in any of the protos."""
        service, _, method = name.strip("/").partition("/")
        for proto in self.files:
            descriptor = self.messages(proto).DESCRIPTOR
            for candidate in descriptor.services_by_name.values():
                if candidate.full_name == service and method in candidate.methods_by_name:
                    found: MethodDescriptor = candidate.methods_by_name[method]
                    return found
        raise LabError(
            f"no gRPC method {name!r} in {', '.join(self.files) or 'the lab (it lists no protos)'}",
            hint="name it as package.Service/Method, as the lab's .proto declares it",
        )

    def _load(self, proto: str) -> tuple[Any, Any]:
        if proto not in self.files:
            raise LabError(
                f"{proto!r} is not one of the lab's protos ({', '.join(self.files)})",
                hint="list it under [service] protos in lab.toml",
            )
        with self._lock:
            if not self._modules:
                self._compile()
        stem = Path(proto).stem
        return self._modules[f"{stem}_pb2"], self._modules[f"{stem}_pb2_grpc"]

    def _compile(self) -> None:
        self._out.mkdir(parents=True, exist_ok=True)
        includes = Path(protoc.__file__).parent / "_proto"  # google/protobuf/*.proto
        args = [
            "protoc",
            f"-I{self.lab_root}",
            f"-I{includes}",
            f"--python_out={self._out}",
            f"--grpc_python_out={self._out}",
            *self.files,
        ]
        if protoc.main(args) != 0:
            raise LabError(
                f"the lab's protos ({', '.join(self.files)}) do not compile",
                hint=f"run: python -m grpc_tools.protoc -I{self.lab_root} ... to see why",
            )
        sys.path.insert(0, str(self._out))
        for proto in self.files:
            stem = Path(proto).stem
            for name in (f"{stem}_pb2", f"{stem}_pb2_grpc"):
                self._modules[name] = importlib.import_module(name)


@dataclass(frozen=True)
class GrpcAnswer:
    """What one call got: its status code, details and reply (None unless OK)."""

    method: str
    code: grpc.StatusCode
    details: str
    reply: Any  # the reply message when code is OK
    exchange: Exchange

    @property
    def ok(self) -> bool:
        return self.code is grpc.StatusCode.OK

    def json(self) -> dict[str, Any]:
        """The reply as JSON data (proto3 field names, defaults included), {} if none."""
        if self.reply is None:
            return {}
        data: dict[str, Any] = json_format.MessageToDict(
            self.reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        return data


class Grpc:
    """Unary calls to one replica (``host:port``), by full method name."""

    def __init__(self, address: tuple[str, int], protos: Protos, *, timeout_s: float = 5.0):
        self.target = f"{address[0]}:{address[1]}"
        self.protos = protos
        self.timeout_s = timeout_s
        self.channel = grpc.insecure_channel(self.target, options=_OPTIONS)
        self._callables: dict[str, Any] = {}

    def call(
        self,
        method: str,
        request: Mapping[str, Any] | Message,
        *,
        timeout_s: float | None = None,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> GrpcAnswer:
        """Call ``method`` with ``request`` (a dict in proto3 JSON field names, or a message)."""
        descriptor = self.protos.method(method)
        message = self._request(descriptor, request)
        unary = self._unary(descriptor)
        line = self.grpcurl(descriptor, message)
        try:
            reply = unary(message, timeout=timeout_s or self.timeout_s, metadata=metadata)
        except grpc.RpcError as exc:
            code: grpc.StatusCode = exc.code()
            details = str(exc.details() or "")
            got = Exchange(line, error=f"{code.name}: {details}" if details else code.name)
            return GrpcAnswer(_name(descriptor), code, details, None, got)
        body = json_format.MessageToJson(reply, preserving_proto_field_name=True, indent=None)
        exchange = Exchange(line, body=body)
        return GrpcAnswer(_name(descriptor), grpc.StatusCode.OK, "", reply, exchange)

    def grpcurl(self, descriptor: MethodDescriptor, message: Message) -> str:
        """The call as a ``grpcurl`` command line a learner can paste."""
        data = json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None)
        protos = " ".join(f"-proto {shlex.quote(p)}" for p in self.protos.files)
        return (
            f"grpcurl -plaintext -import-path {shlex.quote(str(self.protos.lab_root))} {protos} "
            f"-d {shlex.quote(data)} {self.target} {_name(descriptor)}"
        )

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Grpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, descriptor: MethodDescriptor, request: Mapping[str, Any] | Message) -> Any:
        request_type = message_factory.GetMessageClass(descriptor.input_type)
        if isinstance(request, Message):
            return request
        try:
            return json_format.ParseDict(dict(request), request_type())
        except json_format.ParseError as exc:
            raise LabError(
                f"the grader's request for {_name(descriptor)} is not a "
                f"{descriptor.input_type.full_name}: {exc}",
                hint="use the proto's field names: " + json.dumps(list(request)),
            ) from exc

    def _unary(self, descriptor: MethodDescriptor) -> Any:
        name = _name(descriptor)
        if name not in self._callables:
            reply_type = message_factory.GetMessageClass(descriptor.output_type)
            self._callables[name] = self.channel.unary_unary(
                f"/{name}",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=reply_type.FromString,
            )
        return self._callables[name]


def _name(descriptor: MethodDescriptor) -> str:
    return f"{descriptor.containing_service.full_name}/{descriptor.name}"
