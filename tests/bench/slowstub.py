#!/usr/bin/python3
"""slowstub.py: a slow-streaming OpenAI upstream for `make bench-streams`.

usage: slowstub.py [--port N] [--port-file F] [--events E] [--seconds S]

One asyncio HTTP/1.1 server on 127.0.0.1 (keep-alive, listen backlog 4096)
that holds thousands of connections at once.  It answers:

  POST .../chat/completions with "stream": true in the JSON body
      200 text/event-stream, chunked: E chat.completion.chunk events (one
      word of content each; the first at once, then one every S/E seconds),
      then, S seconds after the request, a usage chunk (empty choices, as
      OpenAI sends with stream_options.include_usage) and "data: [DONE]"
  GET /_slowstub/stats
      {"requests", "streams_started", "streams_done", "streams_cut",
       "connections"}: how many requests and streams it has seen, how many
      streams the client closed before their end, connections open now
  anything else
      200 application/json, a canned chat completion with a usage object

E and S default to the environment's STREAM_EVENTS (20) and STREAM_SECONDS
(10).  Standard library only.
"""

import argparse
import asyncio
import json
import os
import time

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024

STATS = {"requests": 0, "streams_started": 0, "streams_done": 0,
         "streams_cut": 0, "connections": 0}


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


def event(obj):
    return chunk(b"data: " + json.dumps(obj, separators=(",", ":")).encode()
                 + b"\n\n")


def completion_chunk(i, model, created):
    return {"id": "chatcmpl-slow", "object": "chat.completion.chunk",
            "created": created, "model": model,
            "choices": [{"index": 0, "delta": {"content": "w%d " % i},
                         "finish_reason": None}]}


def canned(model):
    body = {"id": "chatcmpl-slow", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0,
                         "message": {"role": "assistant", "content": "Hello"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 1,
                      "total_tokens": 10}}
    return json.dumps(body).encode()


async def read_body(reader, headers):
    """The request body: Content-Length or chunked; None if too large."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts, size = [], 0
        while True:
            n = int((await reader.readline()).split(b";")[0], 16)
            if n == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            size += n
            if size > MAX_BODY:
                return None
            parts.append(await reader.readexactly(n))
            await reader.readline()
    n = int(headers.get("content-length", "0") or 0)
    if n > MAX_BODY:
        return None
    return await reader.readexactly(n) if n else b""


async def stream(writer, model, events, seconds):
    """One streamed answer (an exception when the client went away)."""
    start = time.monotonic()
    created = int(time.time())
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n"
                 b"\r\n")
    STATS["streams_started"] += 1
    done = False
    try:
        await stream_events(writer, model, events, seconds, start, created)
        done = True
    finally:
        STATS["streams_done" if done else "streams_cut"] += 1


async def stream_events(writer, model, events, seconds, start, created):
    for i in range(events):
        delay = start + i * seconds / events - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        writer.write(event(completion_chunk(i, model, created)))
        await writer.drain()
    delay = start + seconds - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    writer.write(event({"id": "chatcmpl-slow",
                        "object": "chat.completion.chunk",
                        "created": created, "model": model, "choices": [],
                        "usage": {"prompt_tokens": 9,
                                  "completion_tokens": events,
                                  "total_tokens": 9 + events}}))
    writer.write(chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    await writer.drain()


def plain(status, body, ctype=b"application/json", close=False):
    return (b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
            % (status, ctype, len(body),
               b"Connection: close\r\n" if close else b"") + body)


async def serve_one(reader, writer, events, seconds):
    """One request on the connection; False to close it."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEAD:
        return False
    lines = head.decode("latin-1").split("\r\n")
    method, path = (lines[0].split(" ") + ["", ""])[:2]
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    body = await read_body(reader, headers)
    if body is None:
        writer.write(plain(b"413 Payload Too Large", b"{}", close=True))
        return False
    close = headers.get("connection", "").lower() == "close"
    if path.startswith("/_slowstub/stats"):
        writer.write(plain(b"200 OK", json.dumps(STATS).encode(), close=close))
        return not close
    STATS["requests"] += 1
    try:
        req = json.loads(body) if body else {}
    except ValueError:
        req = {}
    if not isinstance(req, dict):
        req = {}
    model = str(req.get("model", "gpt-4o-mini"))
    if (method == "POST" and path.split("?")[0].endswith("/chat/completions")
            and req.get("stream") is True):
        await stream(writer, model, events, seconds)
    else:
        writer.write(plain(b"200 OK", canned(model), close=close))
    await writer.drain()
    return not close


async def handle(reader, writer, events, seconds):
    STATS["connections"] += 1
    try:
        while await serve_one(reader, writer, events, seconds):
            pass
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ConnectionError, ValueError):
        pass
    finally:
        STATS["connections"] -= 1
        writer.close()


async def main():
    ap = argparse.ArgumentParser(description="slow-streaming upstream")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--events", type=int,
                    default=int(os.environ.get("STREAM_EVENTS", "20")))
    ap.add_argument("--seconds", type=float,
                    default=float(os.environ.get("STREAM_SECONDS", "10")))
    a = ap.parse_args()
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, max(1, a.events), max(0.0, a.seconds)),
        "127.0.0.1", a.port, backlog=4096, limit=MAX_HEAD)
    port = server.sockets[0].getsockname()[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(a.port_file + ".tmp", a.port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
