"""The Gradio app builds without launching and serves on loopback."""

import socket
import subprocess
import sys
import time
import urllib.request

from tests.conftest import REPO


def test_build_app_returns_blocks_without_launching():
    import gradio as gr

    from app import build_app

    assert isinstance(build_app(), gr.Blocks)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_binds_loopback_and_serves_the_page():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "coach.cli", "serve", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 90
        body = b""
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    body = resp.read()
                    break
            except OSError:
                time.sleep(0.5)
        assert b"Interview Coach" in body
    finally:
        proc.terminate()
        proc.wait(timeout=30)
