"""Start ``tasb serve`` in a child process on a free local port, for load tests, browser checks and tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import IO, Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(serve_args: list[str], timeout: float = 300) -> Iterator[str]:
    """``tasb serve SERVE_ARGS`` on 127.0.0.1; yields its base URL once ``/health`` answers, stops it after."""
    port = free_port()
    command = [sys.executable, "-m", "tasb", "serve", *serve_args, "--host", "127.0.0.1", "--port", str(port)]
    # a file, not a pipe: nobody reads the server's output while it runs, and a full pipe would block it
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_for_health(server, base, timeout, log)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def _wait_for_health(server: subprocess.Popen, base: str, timeout: float, log: IO[str]) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"tasb serve exited with status {server.returncode}:\n{log.read()}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"tasb serve did not answer {base}/health within {timeout:.0f} s")
        time.sleep(0.5)
