#!/usr/bin/python3
"""streamload.py: the load client of `make bench-streams`.

usage:
  streamload.py run --port P --path PATH --streams N --events E
                    --deadline S [--body JSON] [--header "Name: value"]...
                    [--sample-at S --sid SID...]
      opens N connections to 127.0.0.1:P at once, sends one POST PATH with
      the body on each (HTTP/1.1, Connection: close) and reads the
      streamed answer.  A stream is complete when its status is 200 and it
      brought at least E content events (data: JSON with a non-empty
      "choices") and "data: [DONE]".  Each stream has S seconds from its
      connect to its end; then it is closed and counted as a timeout.
      With --sample-at, S seconds after the first connect, the Pss of the
      processes of the Unix sessions SID (their leaders aside) is summed
      (see pss) and the streams in flight then are counted.  Prints one
      JSON object:
        n, completed, first_byte (streams that got a first byte),
        ttfb_ms {p50, p99}, duration_ms {p50, max} (null: a stream that
        did not get there counts as infinitely late and the percentile
        falls on one), errors {kind: count}, wall_s,
        sample {at_s, pss_kb, private_kb, procs, in_flight, connected}
  streamload.py pss SID...
      prints "PSS_KB PROCS PRIVATE_KB": the Pss (/proc/PID/smaps_rollup)
      summed over every live process of these sessions except their
      leaders (the tests/lib/reaper.py that started them), how many there
      are, and their private memory (Private_Clean + Private_Dirty) summed

Everything is on 127.0.0.1.  Standard library only.
"""

import argparse
import asyncio
import json
import math
import os
import sys
import time


def session_pss(sids):
    sids = set(int(s) for s in sids)
    total = procs = priv = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in sids:
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
            fields = stat[stat.rfind(b")") + 2:].split()
            if int(fields[3]) not in sids or fields[0] == b"Z":
                continue
            vals = {}
            with open("/proc/%s/smaps_rollup" % name) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k in ("Pss", "Private_Clean", "Private_Dirty"):
                        vals[k] = int(v.split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if "Pss" in vals:
            total += vals["Pss"]
            priv += vals.get("Private_Clean", 0) + vals.get("Private_Dirty", 0)
            procs += 1
    return total, procs, priv


class Stream:
    def __init__(self):
        self.start = None
        self.first = None       # time of the first byte of the answer
        self.end = None         # time it completed
        self.status = None
        self.events = 0
        self.done = False       # saw data: [DONE]
        self.error = None
        self.connected = False


def sse_feed(s, buf, data):
    """Feeds body bytes to the event parser; returns the unparsed rest."""
    buf += data.replace(b"\r\n", b"\n")
    while True:
        cut = buf.find(b"\n\n")
        if cut < 0:
            return buf
        ev, buf = buf[:cut], buf[cut + 2:]
        for line in ev.split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                s.done = True
                continue
            try:
                obj = json.loads(payload)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("choices"):
                s.events += 1


async def read_body(s, reader, headers):
    buf = b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while not s.done:
            n = int((await reader.readline()).split(b";")[0], 16)
            if n == 0:
                return
            buf = sse_feed(s, buf, await reader.readexactly(n))
            await reader.readexactly(2)
        return
    left = int(headers.get("content-length", "-1"))
    while left != 0 and not s.done:
        data = await reader.read(65536 if left < 0 else min(left, 65536))
        if not data:
            return
        if left > 0:
            left -= len(data)
        buf = sse_feed(s, buf, data)


async def one(s, a, request):
    s.start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", a.port,
                                                   limit=1 << 20)
    s.connected = True
    try:
        writer.write(request)
        await writer.drain()
        first = await reader.read(1)
        if not first:
            s.error = "closed_before_answer"
            return
        s.first = time.monotonic()
        head = first + await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        s.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers = {}
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            if sep:
                headers[k.strip().lower()] = v.strip()
        await read_body(s, reader, headers)
        if s.status != 200:
            s.error = "status_%d" % s.status
        elif s.events < a.events or not s.done:
            s.error = "short"
        else:
            s.end = time.monotonic()
    finally:
        writer.close()


async def guarded(s, a, request):
    try:
        await asyncio.wait_for(one(s, a, request), a.deadline)
    except asyncio.TimeoutError:
        s.error = "timeout"
    except (ConnectionError, OSError) as e:
        s.error = "connect" if not s.connected else type(e).__name__
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ValueError):
        s.error = "bad_answer"


async def sampler(a, streams, t0, out):
    await asyncio.sleep(max(0.0, t0 + a.sample_at - time.monotonic()))
    pss, procs, priv = session_pss(a.sid)
    out.update(at_s=round(time.monotonic() - t0, 3), pss_kb=pss, procs=procs,
               private_kb=priv,
               in_flight=sum(1 for s in streams
                             if s.first is not None and s.end is None
                             and s.error is None),
               connected=sum(1 for s in streams
                             if s.connected and s.end is None
                             and s.error is None))


def pct(values, n, q):
    """The q-quantile (nearest rank) of n values, missing ones infinite."""
    v = sorted(values) + [math.inf] * (n - len(values))
    if not v:
        return None
    x = v[min(n - 1, max(0, math.ceil(q * n) - 1))]
    return None if x == math.inf else round(x * 1000, 1)


async def run(a):
    headers = "".join(h + "\r\n" for h in a.header)
    body = a.body.encode()
    request = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n"
               "Accept: text/event-stream\r\nConnection: close\r\n%s\r\n"
               % (a.path, a.port, len(body), headers)).encode() + body
    streams = [Stream() for _ in range(a.streams)]
    sample = {}
    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(guarded(s, a, request)) for s in streams]
    if a.sample_at is not None:
        tasks.append(asyncio.ensure_future(sampler(a, streams, t0, sample)))
    await asyncio.gather(*tasks)
    errors = {}
    for s in streams:
        if s.error:
            errors[s.error] = errors.get(s.error, 0) + 1
    ttfb = [s.first - s.start for s in streams if s.first is not None]
    dur = [s.end - s.start for s in streams if s.end is not None]
    n = a.streams
    return {"n": n, "completed": len(dur), "first_byte": len(ttfb),
            "ttfb_ms": {"p50": pct(ttfb, n, 0.5), "p99": pct(ttfb, n, 0.99)},
            "duration_ms": {"p50": pct(dur, n, 0.5), "max": pct(dur, n, 1.0)},
            "errors": errors, "wall_s": round(time.monotonic() - t0, 3),
            "deadline_s": a.deadline, "sample": sample}


def main(argv):
    if len(argv) > 1 and argv[1] == "pss":
        print("%d %d %d" % session_pss(argv[2:]))
        return
    if len(argv) < 2 or argv[1] != "run":
        sys.exit(__doc__)
    ap = argparse.ArgumentParser(prog="streamload.py run")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--streams", type=int, required=True)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--deadline", type=float, required=True)
    ap.add_argument("--body", default="{}")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--sample-at", type=float)
    ap.add_argument("--sid", action="append", default=[])
    a = ap.parse_args(argv[2:])
    if not 0 < a.streams <= 20000 or not 0 < a.deadline <= 3600:
        sys.exit("streamload.py: --streams 1..20000, --deadline 0..3600 s")
    print(json.dumps(asyncio.run(run(a))))


if __name__ == "__main__":
    main(sys.argv)
