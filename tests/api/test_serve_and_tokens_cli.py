"""`fengqiao serve` answers /healthz when ready and lets the demo accounts log in; `fengqiao tokens`
creates a department system's token that is shown once and works against the API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def env(tmp_path):
    env = {
        **os.environ,
        "FENGQIAO_INSTANCE_PATH": str(tmp_path / "instance"),
        "FENGQIAO_ARGON2_TIME_COST": "1",
        "FENGQIAO_ARGON2_MEMORY_KIB": "1024",
    }
    env.pop("FENGQIAO_DATABASE_URL", None)
    env.pop("FENGQIAO_REDIS_URL", None)
    return env


def fengqiao(env, *args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(url: str, body: dict | None = None, token: str | None = None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def first_answer(server: subprocess.Popen, call, timeout: float = 90):
    """`call()`'s result once the server started by `server` answers it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except (urllib.error.URLError, ConnectionError, TimeoutError):  # a busy machine: not up, or slow to load
            assert time.monotonic() < deadline and server.poll() is None, "the server did not come up"
            time.sleep(0.2)


def test_serve_answers_healthz_when_ready_and_prints_where_to_log_in(env):
    assert fengqiao(env, "init", "--demo-accounts").returncode == 0
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        status, health = first_answer(server, lambda: request(f"{base}/healthz"))
        assert (status, health) == (200, {"status": "ok", "definitions": 1})
        status, login = request(f"{base}/api/v1/auth/login", {"username": "officer_wang", "password": "fengqiao-demo"})
        assert status == 200 and login["user"]["role"] == "officer"
        status, tasks = request(f"{base}/api/v1/tasks", token=login["token"])
        assert status == 200 and tasks == {"items": [], "next_cursor": None}
        status, error = request(f"{base}/api/v1/tasks")
        assert status == 401 and error["error"]["code"] == "unauthorized"
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0]
    assert f"serving on {base}" in output
    assert "officer_wang (officer)" in output and "fengqiao-demo" in output and "/api/v1/auth/login" in output


def test_tokens_create_prints_the_token_once_and_it_reports_only_for_its_department(env, tmp_path):
    assert fengqiao(env, "init", "--demo-accounts").returncode == 0
    created = fengqiao(env, "tokens", "create", "--department", "health", "--name", "health-his")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("fqa_") and "not shown again" in created.stderr
    listed = fengqiao(env, "tokens", "list")
    assert "health-his" in listed.stdout and token not in listed.stdout

    from engine import Engine, Settings

    engine = Engine(Settings.from_env(env))
    try:
        actor = engine.tokens.resolve(token)
        assert (actor.role, actor.username, actor.departments) == ("system", "health-his", frozenset({"health"}))
    finally:
        engine.close()
    assert fengqiao(env, "tokens", "revoke", "1").returncode == 0
    unknown = fengqiao(env, "tokens", "create", "--department", "nowhere")
    assert unknown.returncode == 1 and "does not exist" in unknown.stderr


def test_settled_memory_freezes_startup_objects_and_keeps_the_thresholds():
    probe = (
        "import gc; from cli.server import settle_memory; before = gc.get_freeze_count(); "
        "thresholds = gc.get_threshold(); settle_memory(); "
        "print(gc.get_freeze_count() > before, gc.get_threshold() == thresholds)"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "True"], done.stderr


def test_the_production_gunicorn_config_serves_the_api(env):
    assert fengqiao(env, "init", "--demo-accounts").returncode == 0
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:cli.gunicorn_config",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "web:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        status, login = first_answer(
            server,
            lambda: request(f"{base}/api/v1/auth/login", {"username": "officer_wang", "password": "fengqiao-demo"}),
        )
        assert status == 200
        status, tasks = request(f"{base}/api/v1/tasks", token=login["token"])
        assert status == 200 and tasks == {"items": [], "next_cursor": None}
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0]
    assert "Using worker: gthread" in output, output  # the config module was read


def raw_exchange(port: int, request_bytes: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library tidies them) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request_bytes)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


SERVERS = {
    "fengqiao serve": lambda port: [sys.executable, "-m", "cli.main", "serve", "--port", str(port)],
    "production gunicorn": lambda port: [
        *(sys.executable, "-m", "gunicorn", "-c", "python:cli.gunicorn_config"),
        *("-w", "1", "-b", f"127.0.0.1:{port}", "web:create_app()"),
    ],
}


@pytest.mark.parametrize("command", SERVERS.values(), ids=SERVERS.keys())
def test_requests_the_server_refuses_before_the_app_get_the_one_json_error_shape(env, command):
    assert fengqiao(env, "init").returncode == 0
    port = free_port()
    server = subprocess.Popen(command(port), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    refusals = {
        414: b"GET /api/v1/tasks?x=" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        431: b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n",
        400: b"NOT A REQUEST LINE\r\n\r\n",
    }
    try:
        first_answer(server, lambda: request(f"http://127.0.0.1:{port}/healthz"))
        for expected, raw in refusals.items():
            status, headers, body = raw_exchange(port, raw)
            assert status == expected and headers["content-type"] == "application/json", (status, headers, body)
            error = json.loads(body)["error"]
            assert set(error) == {"code", "message", "details"} and error["details"] == []
            assert error["code"] in ("uri_too_long", "headers_too_large", "bad_request") and b"<html" not in body
            assert int(headers["content-length"]) == len(body) and headers["cache-control"] == "no-store"
        assert request(f"http://127.0.0.1:{port}/healthz")[0] == 200  # the server goes on
    finally:
        server.terminate()
        server.communicate(timeout=20)
