#!/usr/bin/python3
"""rawhttp.py: send one hand-made HTTP request and print the answer's status.

usage: rawhttp.py [options] PORT

Sends, to 127.0.0.1:PORT, the request head read from --head FILE (bytes
as they are; LF line ends are turned into CRLF unless --raw-head) followed
by the body from --body FILE (default none), then reads the answer until
the server closes the connection or --timeout seconds pass.  Prints the
status code of the answer, or 000 when none came, and writes the whole
answer to --out FILE when given.

Options:
  --head FILE       the request line and headers, ending with a blank line
  --raw-head        send the head exactly as in FILE (no LF -> CRLF)
  --body FILE       the body to send after the head
  --byte-delay-ms N send the body one byte at a time, N ms apart
  --half-close      shut the sending side down after the body (the
                    server reads end of file there)
  --timeout S       give up reading after S seconds (default 10)
  --out FILE        where to write the answer (head and body)

Standard library only.
"""

import argparse
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--head", required=True)
    ap.add_argument("--raw-head", action="store_true")
    ap.add_argument("--body")
    ap.add_argument("--byte-delay-ms", type=int, default=0)
    ap.add_argument("--half-close", action="store_true")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--out")
    opts = ap.parse_args()

    head = open(opts.head, "rb").read()
    if not opts.raw_head:
        head = head.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    body = open(opts.body, "rb").read() if opts.body else b""
    deadline = time.monotonic() + opts.timeout

    s = socket.create_connection(("127.0.0.1", opts.port), timeout=opts.timeout)
    answer = b""
    try:
        s.sendall(head)
        if opts.byte_delay_ms > 0:
            for i in range(len(body)):
                s.sendall(body[i:i + 1])
                time.sleep(opts.byte_delay_ms / 1000.0)
        elif body:
            s.sendall(body)
        if opts.half_close:
            s.shutdown(socket.SHUT_WR)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data = s.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            answer += data
    except OSError as e:
        sys.stderr.write("rawhttp: %s\n" % e)
    finally:
        s.close()
    if opts.out:
        with open(opts.out, "wb") as f:
            f.write(answer)
    status = "000"
    if answer.startswith(b"HTTP/"):
        parts = answer.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) >= 2 and parts[1].isdigit():
            status = parts[1].decode()
    print(status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
