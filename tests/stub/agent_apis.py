"""agent_apis.py: the OpenAI Responses API and the Anthropic Messages API
for tests/stub/openai_stub.py (a mix-in of its request handler).

Standard library only.  The event formats are those of the real APIs: the
Responses API's typed events ("event: response.created" ... "event:
response.completed", each with a sequence_number), the Messages API's
message_start / content_block_* / ping / message_delta / message_stop.

The answer text is deterministic:
  * the last user text contains "ping" (any case): "pong";
  * else "echo: " + that text (its first 200 characters), followed, for a
    Responses request with a previous_response_id, by " | previous: " and
    the previous response's text.

Triggers in the last user text (a Responses request's input or an Anthropic
request's last user message):
  "please fail"  an error in the API's own shape, status 400
                 (OpenAI: {"error": {"message", "type":
                 "invalid_request_error", "param": null, "code":
                 "stub_failure"}}; Anthropic: {"type": "error", "error":
                 {"type": "invalid_request_error", "message"}, "request_id"}),
                 before any event
  "please cut"   a streamed answer stops in the middle of an event after
                 its first text delta and the connection is closed (no end
                 of the chunked body); a request that is not streamed gets
                 half of its JSON body

Usage (words = blank-separated words of the texts; --usage-tokens N fixes
input = N // 2 and output = N - N // 2):
  Responses: input_tokens = input, input_tokens_details.cached_tokens =
             min(--cached-tokens, input), output_tokens = output,
             output_tokens_details.reasoning_tokens = min(--reasoning-tokens,
             output), total_tokens = input + output
  Anthropic: input_tokens = input, cache_read_input_tokens =
             --cached-tokens, cache_creation_input_tokens =
             --cache-write-tokens, output_tokens = output (message_start
             says output_tokens 1, message_delta the final count)
The three numbers can also be changed at run time: POST /_stub/cache with
{"cached": N, "cache_write": N, "reasoning": N} (missing keys unchanged).

Responses are remembered (id resp_<hex>, their input items and text) for
GET/DELETE /responses/{id}, POST /responses/{id}/cancel, GET
/responses/{id}/input_items and previous_response_id; an unknown id is 404
in OpenAI's shape.  Every OpenAI answer carries x-request-id: req_<hex>,
every Anthropic answer request-id: req_<hex>.

An Anthropic request is one whose path ends in /messages,
/messages/count_tokens, or that carries an anthropic-version header (for
/models, which both APIs have).  It needs a key, in x-api-key or (as the
Anthropic clients from 1.0 on send it) Authorization: Bearer, else 401
authentication_error; and anthropic-version, else 400.
"""

import json
import secrets
import socket
import time

ANTHROPIC_MODELS = [
    {"type": "model", "id": "claude-sonnet-4-5-20250929",
     "display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z"},
    {"type": "model", "id": "claude-haiku-4-5-20251001",
     "display_name": "Claude Haiku 4.5", "created_at": "2025-10-01T00:00:00Z"},
    {"type": "model", "id": "claude-opus-4-1-20250805",
     "display_name": "Claude Opus 4.1", "created_at": "2025-08-05T00:00:00Z"},
]


def new_id(prefix):
    return prefix + secrets.token_hex(12)


def text_of(content):
    """Text of a content: a string, or a list of parts with "text"."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content
                        if isinstance(p, dict) and isinstance(p.get("text"),
                                                              str))
    return ""


def responses_items(inp):
    """The input of a Responses request as a list of input items."""
    if isinstance(inp, str):
        return [{"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": inp}]}]
    if isinstance(inp, list):
        return [i for i in inp if isinstance(i, dict)]
    return []


def item_text(item):
    if item.get("type") == "function_call_output":
        out = item.get("output")
        return out if isinstance(out, str) else text_of(out)
    return text_of(item.get("content"))


def last_user_text(items):
    for item in reversed(items):
        if item.get("role") == "user" and item.get("type", "message") == \
                "message":
            return item_text(item)
    return item_text(items[-1]) if items else ""


def answer_for(prompt, previous=None):
    if "ping" in prompt.lower():
        return "pong"
    text = "echo: " + prompt[:200]
    if previous is not None:
        text += " | previous: " + previous
    return text


def openai_err(message, etype="invalid_request_error", code=None, param=None):
    return {"error": {"message": message, "type": etype, "param": param,
                      "code": code}}


def anthropic_err(etype, message, request_id):
    return {"type": "error", "error": {"type": etype, "message": message},
            "request_id": request_id}


class AgentAPIs:
    """Mixed into the stub's Handler: needs send_json, send_raw, pieces(),
    self.server.state (lock, opts, responses, cache) and read access to
    self.headers."""

    # -- shared -----------------------------------------------------------

    def is_anthropic(self, p):
        return (p.endswith("/messages") or
                p.endswith("/messages/count_tokens") or
                self.headers.get("anthropic-version") is not None)

    def token_counts(self, in_words, out_words):
        fixed = self.server.state.opts.usage_tokens
        if fixed is not None:
            return fixed // 2, fixed - fixed // 2
        return max(1, in_words), out_words

    def cache_numbers(self):
        state = self.server.state
        with state.lock:
            return dict(state.cache)

    def sse(self, events, cut=False, extra_headers=()):
        """Send (event name, data) pairs as Server-Sent Events with "event:"
        lines.  cut: stop in the middle of the event after the first text
        delta and close the connection."""
        opts = self.server.state.opts
        interval = opts.stream_interval_ms / 1000.0
        chunked = self.request_version == "HTTP/1.1"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        for name, value in extra_headers:
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        seen_delta = False
        try:
            for i, (name, data) in enumerate(events):
                if i and interval:
                    time.sleep(interval)
                if i and getattr(self, "drop_after_first", False):
                    cut_now, half = True, False
                else:
                    cut_now, half = cut and seen_delta, True
                payload = ("event: %s\ndata: %s\n\n" %
                           (name, json.dumps(data))).encode("utf-8")
                if cut_now:
                    self.close_connection = True
                    if half:
                        part = payload[:len(payload) // 2]
                        if chunked:
                            self.wfile.write(b"%x\r\n" % len(payload))
                        self.wfile.write(part)
                        self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if name.endswith("_delta") or name.endswith(".delta"):
                    seen_delta = True
                if chunked:
                    payload = b"%x\r\n%s\r\n" % (len(payload), payload)
                self.wfile.write(payload)
                self.wfile.flush()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except OSError:
            self.close_connection = True

    def send_cut_json(self, obj, extra_headers=()):
        data = json.dumps(obj).encode("utf-8")
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data[:len(data) // 2])
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- the OpenAI Responses API -------------------------------------------

    def responses_route(self, p, valid, req):
        """Answer p if it is a Responses API path; False if it is not."""
        head, sep, rest = p.rpartition("/responses")
        if not sep:
            return False
        rid_hdr = [("x-request-id", new_id("req_"))]
        if rest == "":
            if self.command != "POST":
                return False
            if not valid or not isinstance(req, dict):
                self.send_json(400, openai_err(
                    "We could not parse the JSON body of your request."),
                    rid_hdr)
            else:
                self.responses_create(req, rid_hdr)
            return True
        if rest == "/input_tokens" and self.command == "POST":
            if not valid or not isinstance(req, dict):
                self.send_json(400, openai_err(
                    "We could not parse the JSON body of your request."),
                    rid_hdr)
                return True
            items = responses_items(req.get("input"))
            words = sum(len(item_text(i).split()) for i in items)
            if isinstance(req.get("instructions"), str):
                words += len(req["instructions"].split())
            self.send_json(200, {"object": "response.input_tokens",
                                 "input_tokens": max(1, words)}, rid_hdr)
            return True
        # rest is "/{id}" or "/{id}/cancel" or "/{id}/input_items"
        parts = rest[1:].split("/")
        rid = parts[0]
        sub = "/".join(parts[1:])
        state = self.server.state
        with state.lock:
            stored = state.responses.get(rid)
        if stored is None or sub not in ("", "cancel", "input_items"):
            if sub not in ("", "cancel", "input_items"):
                msg = "Invalid URL (%s %s)" % (self.command, self.path)
                self.send_json(404, openai_err(msg), rid_hdr)
            else:
                self.send_json(404, openai_err(
                    "Response with id '%s' not found." % rid,
                    param="response_id"), rid_hdr)
            return True
        if sub == "" and self.command in ("GET", "HEAD"):
            self.send_json(200, stored["response"], rid_hdr)
        elif sub == "" and self.command == "DELETE":
            with state.lock:
                state.responses.pop(rid, None)
            self.send_json(200, {"id": rid, "object": "response.deleted",
                                 "deleted": True}, rid_hdr)
        elif sub == "cancel" and self.command == "POST":
            with state.lock:
                stored["response"]["status"] = "cancelled"
            self.send_json(200, stored["response"], rid_hdr)
        elif sub == "input_items" and self.command == "GET":
            data = stored["input_items"]
            self.send_json(200, {
                "object": "list", "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": False}, rid_hdr)
        else:
            self.send_json(405, openai_err(
                "Method %s not allowed on %s" % (self.command, p)), rid_hdr)
        return True

    def responses_create(self, req, rid_hdr):
        state = self.server.state
        items = responses_items(req.get("input"))
        prompt = last_user_text(items)
        prev_id = req.get("previous_response_id")
        previous = None
        if prev_id is not None and not isinstance(prev_id, str):
            self.send_json(400, openai_err(
                "Invalid type for 'previous_response_id': expected a "
                "string, but got %s instead." % type(prev_id).__name__,
                code="invalid_type", param="previous_response_id"), rid_hdr)
            return
        if prev_id is not None:
            with state.lock:
                prev = state.responses.get(prev_id)
            if prev is None:
                self.send_json(404, openai_err(
                    "Previous response with id '%s' not found." % (prev_id,),
                    param="previous_response_id"), rid_hdr)
                return
            previous = prev["text"]
        if "please fail" in prompt.lower():
            self.send_json(400, openai_err(
                "stub refuses: please fail", code="stub_failure"), rid_hdr)
            return
        text = answer_for(prompt, previous)
        words = sum(len(item_text(i).split()) for i in items)
        if isinstance(req.get("instructions"), str):
            words += len(req["instructions"].split())
        pt, ct = self.token_counts(words, len(text.split()))
        cache = self.cache_numbers()
        usage = {"input_tokens": pt,
                 "input_tokens_details": {
                     "cached_tokens": min(cache["cached"], pt)},
                 "output_tokens": ct,
                 "output_tokens_details": {
                     "reasoning_tokens": min(cache["reasoning"], ct)},
                 "total_tokens": pt + ct}
        rid = new_id("resp_")
        msg_id = new_id("msg_")
        part = {"type": "output_text", "text": text, "annotations": [],
                "logprobs": []}
        item = {"id": msg_id, "type": "message", "status": "completed",
                "role": "assistant", "content": [part]}
        resp = {
            "id": rid, "object": "response", "created_at": int(time.time()),
            "status": "completed", "background": False, "error": None,
            "incomplete_details": None,
            "instructions": req.get("instructions"),
            "max_output_tokens": req.get("max_output_tokens"),
            "model": req.get("model"), "output": [item],
            "parallel_tool_calls": True,
            "previous_response_id": prev_id, "reasoning": {
                "effort": None, "summary": None},
            "store": req.get("store", True) is not False,
            "temperature": 1.0, "text": {"format": {"type": "text"}},
            "tool_choice": "auto", "tools": req.get("tools") or [],
            "top_p": 1.0, "truncation": "disabled", "usage": usage,
            "user": None, "metadata": req.get("metadata") or {},
        }
        stored_items = []
        for i in items:
            i = dict(i)
            i.setdefault("id", new_id("msg_"))
            stored_items.append(i)
        with state.lock:
            state.responses[rid] = {"response": resp, "text": text,
                                    "input_items": stored_items}
        cut = "please cut" in prompt.lower()
        if req.get("stream") is not True:
            if cut:
                self.send_cut_json(resp, rid_hdr)
            else:
                self.send_json(200, resp, rid_hdr)
            return
        self.sse(self.responses_events(resp, item, text), cut, rid_hdr)

    def responses_events(self, resp, item, text):
        seq = [0]

        def ev(etype, **fields):
            d = {"type": etype, "sequence_number": seq[0]}
            d.update(fields)
            seq[0] += 1
            return (etype, d)
        start = dict(resp, status="in_progress", output=[], usage=None)
        msg_id = item["id"]
        empty = {"type": "output_text", "text": "", "annotations": [],
                 "logprobs": []}
        events = [ev("response.created", response=start),
                  ev("response.in_progress", response=start),
                  ev("response.output_item.added", output_index=0,
                     item=dict(item, status="in_progress", content=[])),
                  ev("response.content_part.added", item_id=msg_id,
                     output_index=0, content_index=0, part=empty)]
        for piece in split_text(text, self.pieces()):
            events.append(ev("response.output_text.delta", item_id=msg_id,
                             output_index=0, content_index=0, delta=piece,
                             logprobs=[]))
        events += [ev("response.output_text.done", item_id=msg_id,
                      output_index=0, content_index=0, text=text,
                      logprobs=[]),
                   ev("response.content_part.done", item_id=msg_id,
                      output_index=0, content_index=0,
                      part=item["content"][0]),
                   ev("response.output_item.done", output_index=0,
                      item=item),
                   ev("response.completed", response=resp)]
        return events

    # -- the Anthropic Messages API -----------------------------------------

    def anthropic_route(self, p, valid, req):
        """Answer p as the Anthropic API; False if it is not one of its
        paths."""
        rid = new_id("req_")
        hdr = [("request-id", rid)]
        if not (p.endswith("/messages") or
                p.endswith("/messages/count_tokens") or
                p.endswith("/models") or "/models/" in p):
            return False
        bearer = self.headers.get("authorization", "")
        if not self.headers.get("x-api-key") and \
                not bearer.lower().startswith("bearer "):
            self.send_json(401, anthropic_err(
                "authentication_error", "x-api-key header is required", rid),
                hdr)
            return True
        if not self.headers.get("anthropic-version"):
            self.send_json(400, anthropic_err(
                "invalid_request_error",
                "anthropic-version: header is required", rid), hdr)
            return True
        if p.endswith("/models") and self.command in ("GET", "HEAD"):
            self.send_json(200, {
                "data": ANTHROPIC_MODELS, "has_more": False,
                "first_id": ANTHROPIC_MODELS[0]["id"],
                "last_id": ANTHROPIC_MODELS[-1]["id"]}, hdr)
            return True
        if "/models/" in p and self.command in ("GET", "HEAD"):
            mid = p.rsplit("/models/", 1)[1]
            for m in ANTHROPIC_MODELS:
                if m["id"] == mid:
                    self.send_json(200, m, hdr)
                    return True
            self.send_json(404, anthropic_err(
                "not_found_error", "model: %s" % mid, rid), hdr)
            return True
        if self.command != "POST" or "/models" in p:
            self.send_json(405, anthropic_err(
                "invalid_request_error",
                "Method %s not allowed" % self.command, rid), hdr)
            return True
        if not valid or not isinstance(req, dict):
            self.send_json(400, anthropic_err(
                "invalid_request_error", "There was an issue with the "
                "format or content of your request.", rid), hdr)
            return True
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            self.send_json(400, anthropic_err(
                "invalid_request_error", "messages: Field required", rid),
                hdr)
            return True
        msgs = [m for m in messages if isinstance(m, dict)]
        words = sum(len(text_of(m.get("content")).split()) for m in msgs)
        system = req.get("system")
        words += len(text_of(system).split())
        if p.endswith("/count_tokens"):
            self.send_json(200, {"input_tokens": max(1, words)}, hdr)
            return True
        self.messages_create(req, msgs, words, rid, hdr)
        return True

    def messages_create(self, req, msgs, words, rid, hdr):
        prompt = ""
        for m in reversed(msgs):
            if m.get("role") == "user":
                prompt = text_of(m.get("content"))
                break
        if "please fail" in prompt.lower():
            self.send_json(400, anthropic_err(
                "invalid_request_error", "stub refuses: please fail", rid),
                hdr)
            return
        text = answer_for(prompt)
        pt, ct = self.token_counts(words, len(text.split()))
        cache = self.cache_numbers()
        usage = {"input_tokens": pt,
                 "cache_creation_input_tokens": cache["cache_write"],
                 "cache_read_input_tokens": cache["cached"],
                 "output_tokens": ct}
        msg = {"id": new_id("msg_"), "type": "message", "role": "assistant",
               "model": req.get("model"),
               "content": [{"type": "text", "text": text}],
               "stop_reason": "end_turn", "stop_sequence": None,
               "usage": usage}
        cut = "please cut" in prompt.lower()
        if req.get("stream") is not True:
            if cut:
                self.send_cut_json(msg, hdr)
            else:
                self.send_json(200, msg, hdr)
            return
        start = dict(msg, content=[], stop_reason=None,
                     usage=dict(usage, output_tokens=1))
        events = [("message_start", {"type": "message_start",
                                     "message": start}),
                  ("content_block_start", {
                      "type": "content_block_start", "index": 0,
                      "content_block": {"type": "text", "text": ""}}),
                  ("ping", {"type": "ping"})]
        for piece in split_text(text, self.pieces()):
            events.append(("content_block_delta", {
                "type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": piece}}))
        events += [("content_block_stop", {"type": "content_block_stop",
                                           "index": 0}),
                   ("message_delta", {
                       "type": "message_delta",
                       "delta": {"stop_reason": "end_turn",
                                 "stop_sequence": None},
                       "usage": {"output_tokens": ct}}),
                   ("message_stop", {"type": "message_stop"})]
        self.sse(events, cut, hdr)


def split_text(text, n):
    if not text:
        return []
    size = max(1, -(-len(text) // n))
    return [text[i:i + size] for i in range(0, len(text), size)]
