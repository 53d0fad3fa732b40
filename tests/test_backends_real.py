"""The generator backends on the real 0.5B model: OpenAIServerGenerator against a real
`llama_cpp.server` subprocess on loopback, and LlamaCppGenerator's token counts and KV-cache
prefix reuse checked against llama.cpp itself. About 30-60 s on 2 idle cores."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from coach.children import die_with_parent
from coach.config import load_config
from coach.llm import CancelToken, LlamaCppGenerator, OpenAIServerGenerator
from tests.conftest import SETUP_MODELS  # a module-scoped server cannot use real_models
from tests.test_generate import drain

pytestmark = pytest.mark.real

SMALL = "qwen2.5-coder-0.5b"
SMALL_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
HELLO = [{"role": "user", "content": "Reply with the single word: hello"}]
# Loading the 0.5B model and the server's imports take ~5 s idle; a busy CPU needs more.
SERVER_START_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """A real llama.cpp server; yields its base URL and is terminated afterwards."""
    model = SETUP_MODELS / SMALL_FILE
    if not model.is_file():
        pytest.fail(f"No assembled {SMALL_FILE} in {SETUP_MODELS}: run ./scripts/setup.sh first")
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    threads = os.cpu_count() or 1
    args = f"--host 127.0.0.1 --port {port} --n_ctx 2048 --n_threads {threads}".split()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), *args]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        # A file, not a pipe: a full pipe buffer would stall the server.
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited early:\n{log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/v1/models", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"llama_cpp.server not ready in {SERVER_START_S} s:\n"
                    f"{log_path.read_text()[-2000:]}"
                )
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server_gen(llama_server) -> OpenAIServerGenerator:
    gen = OpenAIServerGenerator(load_config(backend="openai", endpoint=llama_server))
    gen.warm_up()
    return gen


def test_server_streams_with_usage_and_timings(server_gen):
    assert server_gen.model_id.endswith(SMALL_FILE)  # llama.cpp server names models by path
    pieces, reply = drain(server_gen.stream(HELLO, max_tokens=8))
    assert "hello" in reply.text.lower() and reply.text == "".join(pieces)
    assert reply.finish_reason == "stop"
    # llama_cpp.server 0.3.36 ignores include_usage, so these are the client's estimates:
    # one token per streamed chunk (exact for this server), ~4 characters per prompt token.
    assert reply.prompt_tokens == len(HELLO[0]["content"]) // 4 + 4
    assert 0 < reply.completion_tokens <= 8
    assert 0 < reply.first_token_s <= reply.total_s


def test_server_complete_stops_at_max_tokens(server_gen):
    msgs = [{"role": "user", "content": "Write a long paragraph about sampling in LLMs."}]
    reply = server_gen.complete(msgs, max_tokens=6)
    assert (reply.finish_reason, reply.completion_tokens) == ("length", 6)


def test_server_enforces_a_json_schema(server_gen):
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    msgs = [{"role": "user", "content": "What is 2+3? Answer in JSON."}]
    reply = server_gen.complete(msgs, max_tokens=20, schema=schema)
    assert json.loads(reply.text)["answer"] == 5


def test_server_cancel_ends_the_stream_and_the_server_stays_usable(server_gen):
    token = CancelToken()
    story = [{"role": "user", "content": "Tell a long story about a cat."}]
    pieces, reply = drain(server_gen.stream(story, max_tokens=300, cancel=token), 2, token)
    assert reply.finish_reason == "cancelled" and len(pieces) == 2
    assert "hello" in server_gen.complete(HELLO, max_tokens=8).text.lower()


# --- in-process llama.cpp ------------------------------------------------------------------------


@pytest.fixture
def small_llama(real_models) -> LlamaCppGenerator:
    gen = LlamaCppGenerator(load_config(model=SMALL, n_ctx=2048))
    gen.warm_up()
    return gen


def test_llama_stream_token_counts_match_llama_cpp_usage(small_llama):
    """Streaming gives no `usage`; our counts must equal what non-streaming llama.cpp reports."""
    terse = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Name 3 colours."},
    ]
    cases = [(HELLO, 8), (terse, 4)]  # one stops by itself, one is cut by max_tokens
    for messages, max_tokens in cases:
        ours = small_llama.complete(messages, max_tokens=max_tokens)
        ref = small_llama._llm.create_chat_completion(
            messages, max_tokens=max_tokens, temperature=0.0
        )
        assert ours.text == ref["choices"][0]["message"]["content"]
        assert ours.finish_reason == ref["choices"][0]["finish_reason"]
        assert ours.prompt_tokens == ref["usage"]["prompt_tokens"]
        assert ours.completion_tokens == ref["usage"]["completion_tokens"]


def test_llama_reuses_the_kv_cache_for_a_shared_prefix(small_llama):
    """Same system prompt, new question: only the new suffix is prefilled."""
    system = "You are an interview coach. Sources:\n" + " ".join(
        f"Fact {i}: temperature {i / 10:.1f} changes sampling." for i in range(40)
    )

    def first_token(question: str) -> float:
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": question}]
        return small_llama.complete(msgs, max_tokens=2).first_token_s

    small_llama.complete(HELLO, max_tokens=1)  # a different prefix in the cache
    cold = first_token("What does temperature do?")
    # The best of two: a busy CPU can stall any single short call.
    warm = min(first_token("Which fact mentions 2.0?"), first_token("Which one mentions 3.1?"))
    assert warm < cold / 3, (cold, warm)
