"""The servers benchmarks talk to, all on loopback and all started (and stopped) by the bench:
nginx serving a small static JSON document, and the reference worker in its own process,
optionally with a delay that imitates a remote worker and with a count of requests in flight."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["BODY", "nginx", "reference_worker", "peak_in_flight", "pinned"]

#: The static document nginx serves at /health: a small JSON body like the worker's.
BODY = (b'{"status":"healthy","timestamp":"2026-01-01T00:00:00.000Z","environment":"production",'
        b'"version":"1.0.0"}')


def pinned(argv: Sequence[str], cpu: int | None) -> list[str]:
    """`argv` run on one CPU with taskset, when there is a CPU to pin to."""
    if cpu is None or shutil.which("taskset") is None:
        return list(argv)
    return ["taskset", "-c", str(cpu), *argv]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], what: str,
                   timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"{what} exited with code {proc.returncode}: {err.strip()}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
    default_type application/json;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
        location = /health {{ try_files /health.json =404; }}
    }}
}}
"""


@contextmanager
def nginx(cpu: int | None) -> Iterator[str]:
    """nginx (one worker process, pinned to `cpu`) serving BODY at /health; yields the URL."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is not installed: apt-get install nginx-light")
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # nginx's worker runs as an unprivileged user when started as root
        (root / "www").mkdir()
        (root / "tmp").mkdir()
        (root / "www" / "health.json").write_bytes(BODY)
        port = free_port()
        (root / "nginx.conf").write_text(NGINX_CONF.format(dir=root, port=port))
        proc = subprocess.Popen(pinned([binary, "-c", str(root / "nginx.conf"), "-p", str(root)],
                                       cpu), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_listening(port, proc, "nginx")
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(proc)


@contextmanager
def reference_worker(cpu: int | None, faults: str = "") -> Iterator[str]:
    """The reference worker in its own process (bench.serve), pinned to `cpu`; yields the URL."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.serve", "--port", str(port)]
    if faults:
        argv += ["--faults", faults]
    proc = subprocess.Popen(pinned(argv, cpu), cwd=Path(__file__).resolve().parent.parent,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_listening(port, proc, "the reference worker")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def peak_in_flight(url: str, reset: bool = True) -> int:
    """The most requests the bench.serve worker at `url` had in flight since the last reset."""
    path = "/__bench/peak" + ("?reset=1" if reset else "")
    with urllib.request.urlopen(url + path, timeout=5) as response:  # loopback only
        return int(json.load(response)["peak"])
