"""Generator backends without real models: the fake, the factory, error mapping and cancel for
llama.cpp (a scripted stand-in for `Llama`), the OpenAI-compatible backend against a stub HTTP
server on loopback, and the transformers backend on a tiny random model built in a tmp dir."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from coach.config import load_config
from coach.errors import BackendError, SetupError
from coach.llm import (
    CancelToken,
    FakeGenerator,
    LlamaCppGenerator,
    OpenAIServerGenerator,
    Reply,
    TransformersGenerator,
    extract_json,
    get_generator,
    server_base_url,
)

USER = [{"role": "user", "content": "What is top-p sampling?"}]


def drain(stream, cancel_after: int | None = None, token: CancelToken | None = None):
    """Collect the pieces and the Reply; optionally cancel after N pieces."""
    pieces = []
    while True:
        try:
            pieces.append(next(stream))
        except StopIteration as stop:
            return pieces, stop.value
        if cancel_after is not None and len(pieces) == cancel_after:
            token.cancel()


# --- FakeGenerator ------------------------------------------------------------------------------


def test_fake_streams_word_by_word_with_hand_checkable_counts():
    gen = FakeGenerator(["Top-p keeps the smallest set."])
    pieces, reply = drain(gen.stream(USER))
    assert pieces == ["Top-p ", "keeps ", "the ", "smallest ", "set."]
    # 4 words + 4 for the one message's template share.
    assert (reply.prompt_tokens, reply.completion_tokens) == (8, 5)
    assert reply.text == "".join(pieces) and reply.finish_reason == "stop"
    assert (reply.first_token_s, reply.total_s) == (0.01, 0.05)


def test_fake_script_order_default_dicts_errors_and_call_log():
    boom = BackendError("server down")
    gen = FakeGenerator(["first", {"score": 7}, boom, lambda msgs: msgs[-1]["content"].upper()])
    assert gen.complete(USER).text == "first"
    assert json.loads(gen.complete(USER, schema={"type": "object"}).text) == {"score": 7}
    with pytest.raises(BackendError, match="server down"):
        gen.complete(USER)
    assert gen.complete(USER).text == "WHAT IS TOP-P SAMPLING?"
    assert gen.complete(USER).text == gen.default
    assert [c["schema"] for c in gen.calls] == [None, {"type": "object"}, None, None, None]


def test_fake_honours_max_tokens_and_cancel():
    gen = FakeGenerator(["one two three four five six"] * 2)
    reply = gen.complete(USER, max_tokens=2)
    assert (reply.text, reply.finish_reason, reply.completion_tokens) == ("one two ", "length", 2)
    token = CancelToken()
    pieces, reply = drain(gen.stream(USER, cancel=token), cancel_after=3, token=token)
    assert pieces == ["one ", "two ", "three "]
    assert reply.finish_reason == "cancelled" and reply.completion_tokens == 3


# --- factory and helpers -------------------------------------------------------------------------


def test_factory_picks_the_backend_and_constructs_cheaply(tmp_path):
    assert isinstance(get_generator(load_config()), LlamaCppGenerator)
    cfg = load_config(backend="openai", endpoint="http://127.0.0.1:9")
    gen = get_generator(cfg)
    assert isinstance(gen, OpenAIServerGenerator) and gen is get_generator(cfg)
    hf = load_config(backend="transformers", hf_model_dir=tmp_path)
    assert isinstance(get_generator(hf), TransformersGenerator)


def test_server_base_url_adds_v1_only_to_a_bare_host():
    assert server_base_url("http://localhost:8080/") == "http://localhost:8080/v1"
    assert server_base_url("http://localhost:11434/v1") == "http://localhost:11434/v1"


def test_extract_json_repairs_wrappers_and_checks_the_schema():
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
    assert extract_json('Here: {"score": 3} done', schema) == '{"score": 3}'
    assert extract_json("no json {here", schema) is None
    assert extract_json('{"other": 1}', schema) is None
    assert extract_json('[1, 2] then {"score": 4}', schema) == '{"score": 4}'


# --- llama.cpp logic with a scripted stand-in for Llama ------------------------------------------


class ScriptedLlama:
    """Just enough of llama_cpp.Llama: streams chat chunks, keeps n_tokens like its KV cache."""

    def __init__(self, words, error: Exception | None = None, delay: float = 0.0):
        self.words, self.error, self.delay = words, error, delay
        self.n_tokens = 0
        self.closed = False

    def tokenize(self, data: bytes, add_bos=False, special=True):
        return data.split()

    def create_chat_completion(self, messages, stream, **kwargs):
        prompt = sum(len(m["content"].encode().split()) + 4 for m in messages)

        def chunks():
            try:
                yield {"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]}
                for i, word in enumerate(self.words):
                    if self.error and i == 1:
                        raise self.error
                    time.sleep(self.delay)
                    self.n_tokens = prompt + i  # the newest token is not fed back yet
                    yield {"choices": [{"delta": {"content": word}, "finish_reason": None}]}
                self.n_tokens = prompt + len(self.words)  # end-of-turn feeds the last one back
                yield {"choices": [{"delta": {}, "finish_reason": "stop"}]}
            finally:
                self.closed = True

        return chunks()


def scripted_llama_gen(llm: ScriptedLlama, **kwargs) -> LlamaCppGenerator:
    gen = LlamaCppGenerator(load_config(), **kwargs)
    gen._llm = llm  # warm_up() sees a loaded model; no chat template, so counts are approximate
    return gen


def test_llama_stream_counts_and_stop():
    gen = scripted_llama_gen(ScriptedLlama(["Hello", " there"]))
    pieces, reply = drain(gen.stream(USER))
    assert pieces == ["Hello", " there"] and reply.finish_reason == "stop"
    assert (reply.prompt_tokens, reply.completion_tokens) == (4 + 4, 2)


def test_llama_cancel_closes_the_model_stream():
    llm = ScriptedLlama(["a ", "b ", "c ", "d "])
    token = CancelToken()
    pieces, reply = drain(scripted_llama_gen(llm).stream(USER, cancel=token), 1, token)
    assert pieces == ["a "] and reply.finish_reason == "cancelled" and llm.closed
    assert reply.completion_tokens == 2  # "a" was fed back and "b" sampled before the cancel


def test_llama_errors_become_backend_errors():
    llm = ScriptedLlama(["a", "b"], error=ValueError("Requested tokens exceed context window"))
    with pytest.raises(BackendError, match="context window"):
        scripted_llama_gen(llm).complete(USER)
    assert llm.closed


def test_llama_per_call_timeout():
    llm = ScriptedLlama(["a "] * 50, delay=0.02)
    with pytest.raises(BackendError, match="longer than"):
        scripted_llama_gen(llm, timeout_s=0.1).complete(USER)
    assert llm.closed


# --- OpenAI-compatible server against a stub on loopback -----------------------------------------


def sse(obj) -> bytes:
    return f"data: {json.dumps(obj) if not isinstance(obj, str) else obj}\n\n".encode()


def chunk(content=None, finish=None):
    delta = {"content": content} if content is not None else {}
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "stub-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


USAGE = {
    "id": "c1",
    "object": "chat.completion.chunk",
    "created": 0,
    "model": "stub-model",
    "choices": [],
    "usage": {"prompt_tokens": 21, "completion_tokens": 3, "total_tokens": 24},
}


class StubHandler(BaseHTTPRequestHandler):
    """Modes: ok, nousage, slow, http500, cut (socket closed mid-body), truncated (body ends
    without a finish_reason), error_event, garbage, many (a long slow stream), nomodels."""

    protocol_version = "HTTP/1.0"  # close-delimited bodies: simplest to cut

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        data = [] if self.server.mode == "nomodels" else [{"id": "stub-model", "object": "model"}]
        self._json(200, {"object": "list", "data": data})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        mode = self.server.mode
        if mode == "http500":
            return self._json(500, {"error": {"message": "model crashed", "type": "server"}})
        if mode == "slow":
            time.sleep(1.0)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if mode == "cut":
            self.send_header("Content-Length", "100000")  # promise more than will come
        self.end_headers()
        events = [chunk("Hello"), chunk(" wor"), chunk("ld"), chunk(finish="stop"), USAGE]
        if mode == "nousage":
            events = events[:-1]
        elif mode in ("cut", "truncated"):
            events = events[:2]
        elif mode == "error_event":
            events = [chunk("Hel"), {"error": {"message": "out of memory"}}]
        elif mode == "garbage":
            events = [chunk("Hel"), "{not json"]
        elif mode == "many":
            events = [chunk(f"w{i} ") for i in range(200)] + [chunk(finish="stop")]
        for event in events:
            self.wfile.write(sse(event))
            self.wfile.flush()
            if mode == "many":
                time.sleep(0.01)
        if mode not in ("cut", "truncated"):
            self.wfile.write(sse("[DONE]"))


@pytest.fixture
def stub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubHandler)
    server.mode, server.requests = "ok", []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def server_gen(server, **kwargs) -> OpenAIServerGenerator:
    host, port = server.server_address
    cfg = load_config(backend="openai", endpoint=f"http://{host}:{port}")
    return OpenAIServerGenerator(cfg, **kwargs)


def test_openai_streams_with_usage_and_asks_for_the_first_model(stub):
    pieces, reply = drain(server_gen(stub).stream(USER, max_tokens=9, seed=3))
    assert pieces == ["Hello", " wor", "ld"]
    assert reply == Reply(
        "Hello world", 21, 3, reply.first_token_s, reply.total_s, "stop", "openai:stub-model"
    )
    assert 0 < reply.first_token_s <= reply.total_s
    sent = stub.requests[0]
    assert sent["model"] == "stub-model" and sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert (sent["max_tokens"], sent["seed"], "response_format" in sent) == (9, 3, False)


def test_openai_schema_uses_json_object_with_schema(stub):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    server_gen(stub).complete(USER, schema=schema)
    assert stub.requests[0]["response_format"] == {"type": "json_object", "schema": schema}


def test_openai_configured_model_skips_the_model_list(stub):
    host, port = stub.server_address
    cfg = load_config(backend="openai", endpoint=f"http://{host}:{port}/v1", endpoint_model="m7")
    OpenAIServerGenerator(cfg).complete(USER)
    assert stub.requests[0]["model"] == "m7"


def test_openai_without_usage_estimates_counts(stub):
    stub.mode = "nousage"
    reply = server_gen(stub).complete(USER)
    assert (reply.text, reply.completion_tokens) == ("Hello world", 3)
    assert reply.prompt_tokens == len(USER[0]["content"]) // 4 + 4


def test_openai_cancel_closes_the_stream_early(stub):
    stub.mode = "many"
    token = CancelToken()
    start = time.perf_counter()
    pieces, reply = drain(server_gen(stub).stream(USER, cancel=token), 2, token)
    assert pieces == ["w0 ", "w1 "] and reply.finish_reason == "cancelled"
    assert reply.completion_tokens == 2
    assert time.perf_counter() - start < 1.0  # the whole stream would take 2 s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "mode, message",
    [
        ("http500", r"answered HTTP 500: .*model crashed"),
        ("cut", r"broke mid-reply"),
        ("truncated", r"ended the reply before it was complete \(after 2 pieces\)"),
        ("error_event", r"error mid-reply: out of memory"),
        ("garbage", r"cannot read"),
        ("nomodels", r"lists no models"),
    ],
)
def test_openai_server_failures_are_clear_backend_errors(stub, mode, message):
    stub.mode = mode
    with pytest.raises(BackendError, match=message):
        server_gen(stub).complete(USER)


def test_openai_timeout_is_a_backend_error(stub):
    stub.mode = "slow"
    gen = server_gen(stub, timeout_s=0.3)
    gen.warm_up()
    with pytest.raises(BackendError, match=r"within 0 s|No answer"):
        gen.complete(USER)


def test_openai_connection_refused_is_a_backend_error():
    cfg = load_config(backend="openai", endpoint=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(BackendError, match="Cannot reach the model server"):
        OpenAIServerGenerator(cfg).complete(USER)


# --- transformers on a tiny random model ---------------------------------------------------------

WORDS = ["cat", "<pad>", "<s>", "</s>", "<unk>", "user", "assistant", "system", ":"]


@pytest.fixture(scope="module")
def tiny_hf_dir(tmp_path_factory):
    """A 1-layer Llama with a word-level tokenizer, built locally (no hub). Its final norm is
    zeroed, so every logit is 0 and greedy decoding always picks id 0, "cat": the output is
    known in advance ("cat cat cat ...") while the real generate/stream code runs."""
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-hf")
    vocab = {w: i for i, w in enumerate(WORDS + [f"w{i}" for i in range(40)])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    tok.chat_template = (
        "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
        "{% if add_generation_prompt %}assistant : {% endif %}"
    )
    tok.save_pretrained(path)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=1,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.model.norm.weight.zero_()
    model.save_pretrained(path)
    return path


def tiny_gen(path, **kwargs) -> TransformersGenerator:
    return TransformersGenerator(load_config(backend="transformers", hf_model_dir=path), **kwargs)


def test_transformers_streams_slices_the_prompt_and_counts_tokens(tiny_hf_dir):
    gen = tiny_gen(tiny_hf_dir)
    msgs = [{"role": "user", "content": "w1 w2 w3"}]
    pieces, reply = drain(gen.stream(msgs, max_tokens=5))
    # "user : w1 w2 w3 assistant :" is 7 tokens; none of it comes back in the reply.
    assert reply.prompt_tokens == 7
    assert reply.text.split() == ["cat"] * 5 and "".join(pieces) == reply.text
    assert (reply.completion_tokens, reply.finish_reason) == (5, "length")
    assert 0 < reply.first_token_s <= reply.total_s


def test_transformers_end_of_turn_token_is_a_stop_and_not_counted(tiny_hf_dir):
    gen = tiny_gen(tiny_hf_dir)
    gen.warm_up()
    gen._model.generation_config.eos_token_id = 0  # "cat" now ends the turn at once
    try:
        reply = gen.complete(USER, max_tokens=5)
    finally:
        gen._model.generation_config.eos_token_id = 3
    assert (reply.completion_tokens, reply.finish_reason) == (0, "stop")


def test_transformers_cancel_stops_generation(tiny_hf_dir):
    token = CancelToken()
    stream = tiny_gen(tiny_hf_dir).stream(USER, max_tokens=200, cancel=token)
    pieces, reply = drain(stream, cancel_after=1, token=token)
    assert reply.finish_reason == "cancelled"
    assert reply.completion_tokens < 200


def test_transformers_timeout_is_a_backend_error(tiny_hf_dir):
    with pytest.raises(BackendError, match="longer than|produced nothing"):
        tiny_gen(tiny_hf_dir, timeout_s=0.0).complete(USER, max_tokens=50)


def test_transformers_schema_call_asks_for_json_and_keeps_raw_text_if_unrepairable(tiny_hf_dir):
    reply = tiny_gen(tiny_hf_dir).complete(USER, max_tokens=3, schema={"type": "object"})
    assert reply.text.split() == ["cat"] * 3  # nothing to repair: the caller sees the raw text


def test_transformers_on_the_gguf_needs_gguf_and_accelerate(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SetupError, match="pip install gguf accelerate"):
        tiny_gen(None).warm_up()


def test_transformers_missing_dir_is_a_setup_error(tmp_path):
    with pytest.raises(SetupError, match="not a directory"):
        tiny_gen(tmp_path / "nope").warm_up()
