#!/usr/bin/python3
"""openai_stub.py: a local OpenAI-compatible server for the e2e tests.

Standard library only.  Listens on 127.0.0.1, speaks HTTP/1.1 with
keep-alive, and answers the OpenAI REST API by path suffix, so that any
prefix works (/v1/chat/completions, /chat/completions, /x/y/models, ...).

Options:
  --port N                 port to bind (0, the default, picks a free one)
  --port-file F            write the bound port to F once listening
  --log F                  append one JSON object per received request
  --behavior B             initial behaviour (see BEHAVIORS)
  --slow-ms N              delay of the "slow" behaviour (default 5000)
  --stream-interval-ms N   pause between streamed events (default 0)
  --stream-pieces N        split a streamed answer into about N content
                           events (default 5)
  --usage-tokens N         report a fixed usage: total N, prompt N//2
  --cached-tokens N        cache reads the Responses and Messages APIs
                           report (default 0; see agent_apis.py)
  --cache-write-tokens N   cache writes the Messages API reports (default 0)
  --reasoning-tokens N     reasoning tokens the Responses API reports
                           (default 0)
  --verbose                log each request line to stderr

Behaviours:
  normal     answer as OpenAI would (echoing the prompt)
  error500   500 with an OpenAI-shaped server_error
  garbage    200, Content-Type application/json, body "this is not json"
  drop       read the request, then close the socket without answering
  slow       sleep --slow-ms, then answer as normal
  status429  429 with an OpenAI-shaped rate limit error
  stream_then_drop
             a streamed answer (chat, completions, responses or messages
             with "stream": true) sends its headers and first event, then
             the connection is closed without the rest or the end of the
             chunked body;
             any other request is answered as normal
  midclose   200 whose body stops half way: a buffered answer is cut
             short of its Content-Length, a streamed one (chat or
             completions with "stream": true) in the middle of its
             second event; then the connection is closed
  gzipbomb   200, Content-Type application/json, Content-Encoding gzip:
             about 100 KB that inflate to a 100 MiB JSON document (sent
             whatever the request's Accept-Encoding)
  endless_headers
             "HTTP/1.1 200 OK" followed by header lines (1000 bytes
             each) as fast as they can be sent, never the blank line that
             ends them; gives up after 30 s or when the client goes away
  huge       200, application/json, a valid JSON document of 33 MiB
  hugeevent  a streamed answer whose second event holds 5 MiB of data;
             a request that is not a stream gets the normal answer
  badctype   200 with the normal answer, but Content-Type
             "application/json<CR>X-Injected: ctype" and another header
             X-Injected: upstream
  drip       500 with an OpenAI-shaped error whose body is sent one byte
             every 100 ms (about 10 s), whatever the request
  endless    a streamed answer (text/event-stream, any request) that never
             ends: a 1 KB content event every 20 ms until the client goes
             away (or 120 s)
  status700  the normal answer under the status "700 Odd"

The Responses API (/responses...) and the Anthropic Messages API
(/messages, /messages/count_tokens, and /models with an anthropic-version
header) are answered as described in agent_apis.py, in their real event
formats; error500 and status429 answer an Anthropic request in Anthropic's
error shape.

Control endpoints (not logged, not counted, work in every behaviour):
  POST /_stub/behavior   body = behaviour name; answers {"behavior": NAME}
  GET  /_stub/behavior   answers {"behavior": NAME}
  GET  /_stub/count      answers {"requests": N}, N = requests received
  POST /_stub/reset      sets the count back to 0
  POST /_stub/cache      body = {"cached": N, "cache_write": N,
                         "reasoning": N} (any of them); answers the three

Every other request is logged, before it is answered, as one line:
  {"method", "path", "query", "headers": {lowercased name: value},
   "body", "body_is_valid_json", "body_json"}
"body" is the raw body as text; a body that is not valid UTF-8 is given as
the repr() of its surrogateescape decoding.
"""

import argparse
import base64
import http.server
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import zlib

from agent_apis import AgentAPIs, anthropic_err, new_id

BEHAVIORS = ("normal", "error500", "garbage", "drop", "slow", "status429",
             "stream_then_drop", "midclose", "gzipbomb", "endless_headers",
             "huge", "hugeevent", "badctype", "drip", "endless", "status700")

# Behaviours of the hostile-upstream tests (Handler.hostile).
HOSTILE = ("midclose", "gzipbomb", "endless_headers", "huge", "hugeevent",
           "badctype", "drip", "endless", "status700")

_gzipbomb = None
_gzipbomb_lock = threading.Lock()


def gzipbomb():
    """The gzipbomb body, made once: a 100 MiB JSON document, gzipped."""
    global _gzipbomb
    with _gzipbomb_lock:
        if _gzipbomb is None:
            z = zlib.compressobj(9, zlib.DEFLATED, 31)
            parts = [z.compress(b'{"object": "chat.completion", "pad": "')]
            block = b"a" * (1 << 20)
            for _ in range(100):
                parts.append(z.compress(block))
            parts.append(z.compress(b'"}'))
            parts.append(z.flush())
            _gzipbomb = b"".join(parts)
        return _gzipbomb

MODELS = [
    {"id": "gpt-4o-mini", "object": "model", "created": 1721172741,
     "owned_by": "stub"},
    {"id": "gpt-4o", "object": "model", "created": 1715367049,
     "owned_by": "stub"},
    {"id": "text-embedding-3-small", "object": "model", "created": 1705948997,
     "owned_by": "stub"},
]

EMBEDDING = [0.1, 0.2, 0.3]

# Largest request body the stub accepts; the gateway caps bodies far below.
MAX_BODY = 64 * 1024 * 1024


class State:
    """What the handlers share; every field is guarded by lock."""

    def __init__(self, opts):
        self.lock = threading.Lock()
        self.behavior = opts.behavior
        self.count = 0
        self.opts = opts
        self.log_fd = -1
        # Responses API objects created (agent_apis.py), by id.
        self.responses = {}
        self.cache = {"cached": opts.cached_tokens,
                      "cache_write": opts.cache_write_tokens,
                      "reasoning": opts.reasoning_tokens}
        if opts.log:
            self.log_fd = os.open(opts.log,
                                  os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                                  0o644)

    def record(self, entry):
        """Count a request and append its log line (one write per line)."""
        line = (json.dumps(entry, ensure_ascii=True) + "\n").encode("ascii")
        with self.lock:
            self.count += 1
            if self.log_fd >= 0:
                view = memoryview(line)
                while view:
                    n = os.write(self.log_fd, view)
                    view = view[n:]

    def get_behavior(self):
        with self.lock:
            return self.behavior

    def set_behavior(self, name):
        with self.lock:
            self.behavior = name


def words(text):
    return len(text.split())


def content_text(content):
    """Text of a message content: a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return " ".join(parts)
    return ""


def split_pieces(text, n=5):
    """Split text into about n non-empty pieces that join back to text."""
    if not text:
        return []
    size = max(1, -(-len(text) // n))
    return [text[i:i + size] for i in range(0, len(text), size)]


def openai_error(message, etype="invalid_request_error", code=None,
                 param=None):
    err = {"message": message, "type": etype, "code": code}
    if param is not None:
        err["param"] = param
    return {"error": err}


class Handler(AgentAPIs, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Small writes (an SSE event after the headers) go out at once instead
    # of waiting for the peer's delayed ACK, as on a real API server.
    disable_nagle_algorithm = True
    # A connection idle this long is closed, so no thread waits forever.
    timeout = 120

    def version_string(self):
        return "openai-stub/1.0"

    # -- plumbing ---------------------------------------------------------

    def log_message(self, fmt, *args):
        if self.server.state.opts.verbose:
            sys.stderr.write("stub: %s - %s\n" %
                             (self.address_string(), fmt % args))

    def read_body(self):
        """Read the request body (Content-Length or chunked)."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers, up to the empty line
                    while True:
                        t = self.rfile.readline(65537)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        n = int(length)
        if n < 0 or n > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(n)

    def send_json(self, status, obj, extra_headers=()):
        data = json.dumps(obj).encode("utf-8")
        self.send_raw(status, "application/json", data, extra_headers)

    def send_raw(self, status, ctype, data, extra_headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra_headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    # -- entry points -----------------------------------------------------

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def dispatch(self):
        state = self.server.state
        parsed = urllib.parse.urlsplit(self.path)
        path, query = parsed.path, parsed.query
        try:
            raw = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send_json(400, openai_error("unreadable request body"))
            return

        if path.startswith("/_stub/"):
            self.control(path, raw)
            return

        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            body = repr(raw.decode("utf-8", "surrogateescape"))
        try:
            body_json = json.loads(raw.decode("utf-8")) if raw else None
            valid = bool(raw)
        except (UnicodeDecodeError, ValueError):
            body_json, valid = None, False
        headers = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = headers[key] + ", " + value if key in headers \
                else value
        # Log before answering, so that drop and slow are seen too.
        state.record({
            "method": self.command,
            "path": path,
            "query": query,
            "headers": headers,
            "body": body,
            "body_is_valid_json": valid,
            "body_json": body_json,
        })

        behavior = state.get_behavior()
        if behavior == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        anthropic = self.is_anthropic(path.rstrip("/"))
        if behavior == "error500":
            if anthropic:
                rid = new_id("req_")
                self.send_json(500, anthropic_err(
                    "api_error", "stub failure", rid), [("request-id", rid)])
                return
            self.send_json(500, openai_error("stub failure", "server_error"))
            return
        if behavior == "garbage":
            self.send_raw(200, "application/json", b"this is not json")
            return
        if behavior == "status429" and anthropic:
            rid = new_id("req_")
            self.send_json(429, anthropic_err(
                "rate_limit_error", "Number of requests has exceeded your "
                "rate limit (stub)", rid),
                [("request-id", rid), ("retry-after", "1")])
            return
        if behavior == "status429":
            self.send_json(429, openai_error(
                "Rate limit reached for requests (stub)", "requests",
                "rate_limit_exceeded"), [("Retry-After", "1")])
            return
        if behavior in HOSTILE:
            self.hostile(behavior, path, raw, valid, body_json)
            return
        if behavior == "slow":
            time.sleep(state.opts.slow_ms / 1000.0)
        self.drop_after_first = behavior == "stream_then_drop"
        self.answer(path, raw, valid, body_json)

    def control(self, path, raw):
        state = self.server.state
        if path == "/_stub/behavior":
            if self.command == "POST":
                name = raw.decode("utf-8", "replace").strip()
                if name not in BEHAVIORS:
                    self.send_json(400, openai_error(
                        "unknown behavior %r, one of %s" %
                        (name, ", ".join(BEHAVIORS))))
                    return
                state.set_behavior(name)
            self.send_json(200, {"behavior": state.get_behavior()})
        elif path == "/_stub/count":
            with state.lock:
                n = state.count
            self.send_json(200, {"requests": n})
        elif path == "/_stub/reset" and self.command == "POST":
            with state.lock:
                state.count = 0
            self.send_json(200, {"requests": 0})
        elif path == "/_stub/cache" and self.command == "POST":
            try:
                new = json.loads(raw.decode("utf-8"))
                for k, v in new.items():
                    if k not in state.cache or not isinstance(v, int):
                        raise ValueError(k)
            except (ValueError, AttributeError, UnicodeDecodeError):
                self.send_json(400, openai_error(
                    "body: {\"cached\": N, \"cache_write\": N, "
                    "\"reasoning\": N}"))
                return
            with state.lock:
                state.cache.update(new)
                cache = dict(state.cache)
            self.send_json(200, cache)
        else:
            self.send_json(404, openai_error("no such control endpoint"))

    # -- the OpenAI API ---------------------------------------------------

    def answer(self, path, raw, valid, req):
        p = path.rstrip("/")
        if self.is_anthropic(p) and self.anthropic_route(p, valid, req):
            return
        if self.responses_route(p, valid, req):
            return
        if self.command == "POST" and (p.endswith("/chat/completions") or
                                       p == "/chat/completions" or
                                       p.endswith("/completions") or
                                       p.endswith("/embeddings")):
            if not valid or not isinstance(req, dict):
                self.send_json(400, openai_error(
                    "We could not parse the JSON body of your request."))
                return
            if p.endswith("/chat/completions"):
                self.chat(req)
            elif p.endswith("/completions"):
                self.completion(req)
            else:
                self.embeddings(req)
            return
        if self.command in ("GET", "HEAD"):
            if p.endswith("/models") or p == "/models":
                self.send_json(200, {"object": "list", "data": MODELS})
                return
            head, sep, mid = p.rpartition("/models/")
            if sep and mid and "/" not in mid:
                for m in MODELS:
                    if m["id"] == mid:
                        self.send_json(200, m)
                        return
                self.send_json(404, openai_error(
                    "The model '%s' does not exist" % mid,
                    code="model_not_found", param="model"))
                return
        self.send_json(404, openai_error(
            "Invalid URL (%s %s)" % (self.command, path)))

    def pieces(self):
        return max(1, self.server.state.opts.stream_pieces)

    def usage(self, prompt_words, completion_words):
        fixed = self.server.state.opts.usage_tokens
        if fixed is not None:
            pt = fixed // 2
            ct = fixed - pt
        else:
            pt = max(1, prompt_words)
            ct = completion_words
        return {"prompt_tokens": pt, "completion_tokens": ct,
                "total_tokens": pt + ct}

    def chat(self, req):
        messages = req.get("messages")
        if not isinstance(messages, list):
            self.send_json(400, openai_error(
                "'messages' is a required property", param="messages"))
            return
        model = req.get("model")
        texts = [content_text(m.get("content")) for m in messages
                 if isinstance(m, dict)]
        last = texts[-1] if texts else ""
        answer = "echo: " + last
        usage = self.usage(sum(words(t) for t in texts), words(answer))
        created = int(time.time())
        if req.get("stream") is True:
            opts = req.get("stream_options")
            with_usage = isinstance(opts, dict) and \
                opts.get("include_usage") is True

            def chunk(delta, finish=None):
                return {"id": "chatcmpl-stub",
                        "object": "chat.completion.chunk",
                        "created": created, "model": model,
                        "choices": [{"index": 0, "delta": delta,
                                     "finish_reason": finish}]}
            events = [chunk({"role": "assistant", "content": ""})]
            events += [chunk({"content": piece})
                       for piece in split_pieces(answer, self.pieces())]
            events.append(chunk({}, "stop"))
            if with_usage:
                events.append({"id": "chatcmpl-stub",
                               "object": "chat.completion.chunk",
                               "created": created, "model": model,
                               "choices": [], "usage": usage})
            self.stream(events)
            return
        self.send_json(200, {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }],
            "usage": usage,
        })

    def completion(self, req):
        prompt = req.get("prompt", "")
        if isinstance(prompt, list):
            prompt = " ".join(p for p in prompt if isinstance(p, str))
        elif not isinstance(prompt, str):
            prompt = ""
        model = req.get("model")
        answer = "echo: " + prompt
        usage = self.usage(words(prompt), words(answer))
        created = int(time.time())
        if req.get("stream") is True:
            opts = req.get("stream_options")
            with_usage = isinstance(opts, dict) and \
                opts.get("include_usage") is True

            def chunk(text, finish=None):
                return {"id": "cmpl-stub", "object": "text_completion",
                        "created": created, "model": model,
                        "choices": [{"index": 0, "text": text,
                                     "finish_reason": finish}]}
            events = [chunk(piece)
                      for piece in split_pieces(answer, self.pieces())]
            events.append(chunk("", "stop"))
            if with_usage:
                events.append({"id": "cmpl-stub", "object": "text_completion",
                               "created": created, "model": model,
                               "choices": [], "usage": usage})
            self.stream(events)
            return
        self.send_json(200, {
            "id": "cmpl-stub",
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "text": answer, "logprobs": None,
                         "finish_reason": "stop"}],
            "usage": usage,
        })

    def embeddings(self, req):
        inp = req.get("input")
        if isinstance(inp, str):
            inputs = [inp]
        elif isinstance(inp, list) and inp and \
                all(isinstance(x, int) for x in inp):
            inputs = [inp]          # one input given as token ids
        elif isinstance(inp, list):
            inputs = inp
        else:
            self.send_json(400, openai_error(
                "'input' is a required property", param="input"))
            return
        n = 0
        for x in inputs:
            n += words(x) if isinstance(x, str) else \
                len(x) if isinstance(x, list) else 0
        n = max(1, n)
        fixed = self.server.state.opts.usage_tokens
        if fixed is not None:
            n = fixed
        if req.get("encoding_format") == "base64":
            vec = base64.b64encode(
                struct.pack("<%df" % len(EMBEDDING), *EMBEDDING)).decode()
        else:
            vec = EMBEDDING
        self.send_json(200, {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": vec}
                     for i in range(len(inputs))],
            "model": req.get("model"),
            "usage": {"prompt_tokens": n, "total_tokens": n},
        })

    def stream(self, events):
        """Send events as Server-Sent Events, flushing after each one.

        HTTP/1.1 clients get chunked transfer encoding (the connection
        stays usable); HTTP/1.0 clients get the body up to connection close.
        """
        interval = self.server.state.opts.stream_interval_ms / 1000.0
        chunked = self.request_version == "HTTP/1.1"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        payloads = ["data: %s\n\n" % json.dumps(e) for e in events]
        payloads.append("data: [DONE]\n\n")
        try:
            for i, p in enumerate(payloads):
                if i and interval:
                    time.sleep(interval)
                if i and getattr(self, "drop_after_first", False):
                    # stream_then_drop: the first event is out; cut the
                    # connection without ending the body.
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                data = p.encode("utf-8")
                if chunked:
                    data = b"%x\r\n%s\r\n" % (len(data), data)
                self.wfile.write(data)
                self.wfile.flush()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except OSError:
            self.close_connection = True

    # -- hostile upstreams (HOSTILE) -----------------------------------------

    def hostile(self, behavior, path, raw, valid, req):
        """Answers as a broken or malicious upstream would."""
        stream = isinstance(req, dict) and req.get("stream") is True
        self.close_connection = True
        try:
            if behavior == "midclose":
                self.midclose(stream)
            elif behavior == "gzipbomb":
                data = gzipbomb()
                self.send_raw(200, "application/json", data,
                              [("Content-Encoding", "gzip")])
            elif behavior == "endless_headers":
                self.endless_headers()
            elif behavior == "huge":
                self.huge()
            elif behavior == "hugeevent":
                if stream:
                    self.hugeevent()
                else:
                    self.answer(path, raw, valid, req)
            elif behavior == "badctype":
                self.badctype(path, raw, valid, req)
            elif behavior in ("drip", "endless", "status700"):
                self.odd_answer(behavior, req)
        except OSError:
            pass  # the client went away: that is what some of these want
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def midclose(self, stream):
        if stream:
            ev = {"id": "chatcmpl-stub", "object": "chat.completion.chunk",
                  "created": int(time.time()), "model": "gpt-4o-mini",
                  "choices": [{"index": 0, "delta": {"content": "partial"},
                               "finish_reason": None}]}
            first = ("data: %s\n\n" % json.dumps(ev)).encode()
            second = ("data: %s\n\n" % json.dumps(ev)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = second[:len(second) // 2]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(first), first))
            self.wfile.write(b"%x\r\n%s" % (len(second), half))
            self.wfile.flush()
            return
        data = json.dumps({
            "id": "chatcmpl-stub", "object": "chat.completion",
            "created": int(time.time()), "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {
                "role": "assistant", "content": "x" * 4000},
                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                      "total_tokens": 2}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:len(data) // 2])
        self.wfile.flush()

    def endless_headers(self):
        self.wfile.write(b"HTTP/1.1 200 OK\r\n"
                         b"Content-Type: application/json\r\n")
        line = b"a" * 980
        deadline = time.monotonic() + 30
        n = 0
        while time.monotonic() < deadline:
            self.wfile.write(b"X-Endless-%08d: %s\r\n" % (n, line))
            n += 1
            if n % 64 == 0:
                self.wfile.flush()

    def huge(self):
        size = 33 * 1024 * 1024
        head, tail = b'{"object": "chat.completion", "pad": "', b'"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.write(head)
        left = size - len(head) - len(tail)
        block = b"a" * (1 << 20)
        while left > 0:
            n = min(left, len(block))
            self.wfile.write(block[:n])
            left -= n
        self.wfile.write(tail)
        self.wfile.flush()

    def hugeevent(self):
        small = {"id": "chatcmpl-stub", "object": "chat.completion.chunk",
                 "created": int(time.time()), "model": "gpt-4o-mini",
                 "choices": [{"index": 0, "delta": {"content": "before"},
                              "finish_reason": None}]}
        big = dict(small, choices=[{"index": 0, "delta": {
            "content": "b" * (5 * 1024 * 1024)}, "finish_reason": None}])
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for ev in (small, big, small):
            self.wfile.write(("data: %s\n\n" % json.dumps(ev)).encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def badctype(self, path, raw, valid, req):
        if not isinstance(req, dict) or not isinstance(req.get("messages"),
                                                       list):
            self.answer(path, raw, valid, req)
            return
        texts = [content_text(m.get("content")) for m in req["messages"]
                 if isinstance(m, dict)]
        data = json.dumps({
            "id": "chatcmpl-stub", "object": "chat.completion",
            "created": int(time.time()), "model": req.get("model"),
            "choices": [{"index": 0, "message": {
                "role": "assistant",
                "content": "echo: " + (texts[-1] if texts else "")},
                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2,
                      "total_tokens": 3}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json\rX-Injected: ctype")
        self.send_header("X-Injected", "upstream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def odd_answer(self, behavior, req):
        """drip, endless and status700 (see BEHAVIORS at the top)."""
        if behavior == "status700":
            data = json.dumps({"object": "chat.completion", "choices": [],
                               "model": req.get("model") if
                               isinstance(req, dict) else None}).encode()
            self.send_response(700, "Odd")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return
        ctype = "text/event-stream" if behavior == "endless" \
            else "application/json"
        data = json.dumps(openai_error("dripped", "server_error")).encode()
        self.send_response(200 if behavior == "endless" else 500)
        self.send_header("Content-Type", ctype)
        if behavior == "drip":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.flush()
        ev = {"object": "chat.completion.chunk", "choices": [{
            "index": 0, "delta": {"content": "x" * 1000},
            "finish_reason": None}]}
        ev = ("data: %s\n\n" % json.dumps(ev)).encode()
        deadline = time.monotonic() + 120
        for i in range(len(data)) if behavior == "drip" else iter(int, 1):
            if time.monotonic() > deadline:
                break
            self.wfile.write(data[i:i + 1] if behavior == "drip" else ev)
            self.wfile.flush()
            time.sleep(0.1 if behavior == "drip" else 0.02)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(description="OpenAI-compatible stub server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--behavior", default="normal", choices=BEHAVIORS)
    ap.add_argument("--slow-ms", type=int, default=5000)
    ap.add_argument("--stream-interval-ms", type=int, default=0)
    ap.add_argument("--stream-pieces", type=int, default=5)
    ap.add_argument("--usage-tokens", type=int, default=None)
    ap.add_argument("--cached-tokens", type=int, default=0)
    ap.add_argument("--cache-write-tokens", type=int, default=0)
    ap.add_argument("--reasoning-tokens", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    opts = ap.parse_args()

    server = Server(("127.0.0.1", opts.port), Handler)
    server.state = State(opts)
    port = server.server_address[1]
    if opts.port_file:
        tmp = opts.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, opts.port_file)

    def stop(signum, frame):
        # shutdown() waits for serve_forever(), so call it from a thread.
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
