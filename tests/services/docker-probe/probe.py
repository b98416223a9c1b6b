"""Reports, from inside its container, what the box allows: GET /probe answers JSON."""

import json
import os
import socket
import subprocess
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit


def status_field(name):
    with open("/proc/self/status") as f:
        lines = f.read().splitlines()
    for line in lines:
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as exc:
        return f"error: {exc}"


def writable(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        os.unlink(path)
        return True
    except OSError:
        return False


def connects(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


def resolves(name):
    try:
        socket.getaddrinfo(name, 80)
        return True
    except OSError:
        return False


def fork_bomb_stopped_at():
    """Start sleepers until the pids limit refuses one; report how many started."""
    procs = []
    try:
        for _ in range(2000):
            procs.append(subprocess.Popen(["sleep", "30"]))
    except OSError:
        pass
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return len(procs)


def gateway():
    with open("/proc/net/route") as f:
        routes = f.read().splitlines()[1:]
    for line in routes:
        fields = line.split()
        if fields[1] == "00000000":
            return socket.inet_ntoa(bytes.fromhex(fields[2])[::-1])
    return None


def probe(query):
    db = urlsplit(os.environ["DATABASE_URL"])
    host_port = int(query.get("host_port", ["1"])[0])
    return {
        "uid": os.getuid(),
        "cap_eff": status_field("CapEff"),
        "no_new_privs": status_field("NoNewPrivs"),
        "root_writable": writable("/probe-write-test"),
        "tmp_writable": writable("/tmp/probe-write-test"),
        "memory_limit": read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
        if os.path.exists("/sys/fs/cgroup/memory")
        else read("/sys/fs/cgroup/memory.max"),
        "cpu_quota": read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        if os.path.exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        else read("/sys/fs/cgroup/cpu.max"),
        "cpu_period": read("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
        "pids_max": read("/sys/fs/cgroup/pids/pids.max")
        if os.path.exists("/sys/fs/cgroup/pids/pids.max")
        else read("/sys/fs/cgroup/pids.max"),
        "processes_started": fork_bomb_stopped_at(),
        "host_devices": sorted(os.listdir("/dev")),
        "dependency_reachable": connects(db.hostname, db.port),
        "outside_ip_reachable": connects("1.1.1.1", 80) or connects("8.8.8.8", 53),
        "outside_name_resolves": resolves("deb.debian.org"),
        "gateway": gateway(),
        "host_reachable": connects(gateway(), host_port),
    }


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlsplit(self.path)
        body = b"ok" if url.path == "/healthz" else json.dumps(probe(parse_qs(url.query))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
