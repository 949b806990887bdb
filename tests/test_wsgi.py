"""The WSGI entry point passes Django only what the request and the server put in the environ:
granian copies the process environment (with the app's secrets) into every request's."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from annotate.stack import free_port, web_command
from annotate.wsgi import application, request_only

ROOT = Path(__file__).resolve().parent.parent


def _seen(process_env: dict[str, str], environ: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(env)
        return [b""]

    request_only(app, process_env)(environ, lambda *args: None)
    return seen


def test_the_process_environment_does_not_reach_the_app() -> None:
    process = {"DJANGO_SECRET_KEY": "s3cret", "DATABASE_URL": "postgres://u:pw@h/db"}
    process["HTTP_PROXY"] = "http://proxy.internal:3128"
    body = io.BytesIO(b"{}")
    environ = {
        **process,  # what granian starts from
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/t/acme/projects",
        "QUERY_STRING": "next=1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "2",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": "Bearer t",
        "wsgi.input": body,
        "wsgi.url_scheme": "http",
    }
    seen = _seen(process, environ)
    for key in ("DJANGO_SECRET_KEY", "DATABASE_URL", "HTTP_PROXY"):
        assert key not in seen, key
    assert seen["wsgi.input"] is body
    for key in ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_LENGTH", "REMOTE_ADDR"):
        assert seen[key] == environ[key]
    assert seen["HTTP_AUTHORIZATION"] == "Bearer t"


def test_a_client_header_named_like_a_process_variable_is_kept_with_its_own_value() -> None:
    process = {"HTTP_PROXY": "http://proxy.internal:3128"}
    seen = _seen(process, {**process, "HTTP_PROXY": "client value", "PATH_INFO": "/"})
    assert seen["HTTP_PROXY"] == "client value"


def test_the_served_application_is_the_filtered_one() -> None:
    assert application.__qualname__ == "request_only.<locals>.application"


@pytest.mark.timeout(90)
def test_under_the_real_server_secrets_stay_out_of_the_request() -> None:
    """Served by the production server (annotate.stack.web_command): the server's own environ
    carries the process's variables; what the app sees does not."""
    port = free_port()
    env = {**os.environ, "ANNOTATE_PROBE_SECRET": "canary-7f3a"}
    proc = subprocess.Popen(
        web_command(port=port, workers=1, app="tests.wsgi_probe:application"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/raw", timeout=2) as r:
                    raw = json.loads(r.read())
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the web server did not start")
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/app", timeout=5) as r:
            filtered = json.loads(r.read())
    finally:
        proc.terminate()
        proc.wait(20)
    # Why the filter exists: the server hands the process environment to every request.
    assert "ANNOTATE_PROBE_SECRET" in raw
    assert "ANNOTATE_PROBE_SECRET" not in filtered
    assert "DJANGO_SECRET_KEY" not in filtered
    assert {"REQUEST_METHOD", "PATH_INFO", "HTTP_HOST", "wsgi.input"} <= set(filtered)
