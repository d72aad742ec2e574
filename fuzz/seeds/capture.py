#!/usr/bin/env python3
"""Seed capture for the fuzz targets: real traffic, recorded on loopback.

`proxy --target HOST:PORT --out DIR` listens on 127.0.0.1 (prints `proxy on PORT`), forwards
every connection to the target, and writes what each side sent to DIR/N.c2s and DIR/N.s2c.
`split --captures DIR --corpus DIR` turns the captures of seed.sh into seed files per target.
Standard library only.
"""
import argparse
import asyncio
import hashlib
import os
import sys

SEED_MAX = 64 * 1024


async def pump(reader, writer, sink):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            sink.write(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        sink.flush()
        try:
            writer.close()
        except OSError:
            pass


async def proxy(target, out):
    host, port = target.rsplit(":", 1)
    count = 0

    async def handle(client_r, client_w):
        nonlocal count
        count += 1
        n = count
        server_r, server_w = await asyncio.open_connection(host, int(port))
        with open(os.path.join(out, f"{n}.c2s"), "wb", buffering=0) as c2s, open(
            os.path.join(out, f"{n}.s2c"), "wb", buffering=0
        ) as s2c:
            await asyncio.gather(pump(client_r, server_w, c2s), pump(server_r, client_w, s2c))

    os.makedirs(out, exist_ok=True)
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"proxy on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def put(corpus, target, data):
    data = data[:SEED_MAX]
    if not data:
        return
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def captures(root, transport, direction):
    d = os.path.join(root, transport)
    if not os.path.isdir(d):
        return []
    out = []
    for name in sorted(os.listdir(d)):
        if name.endswith("." + direction):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read())
    return out


def http_bodies(stream):
    """Bodies with a Content-Length in an HTTP/1.1 byte stream (requests or responses)."""
    bodies = []
    while True:
        end = stream.find(b"\r\n\r\n")
        if end < 0:
            return bodies
        head, stream = stream[:end].lower(), stream[end + 4:]
        length = 0
        for line in head.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        bodies.append(stream[:length])
        stream = stream[length:]


def frames(stream, limit=64):
    """The bodies of the first `limit` 4-byte-length-prefixed frames of a raw-tcp stream."""
    out = []
    while len(stream) >= 4 and len(out) < limit:
        n = int.from_bytes(stream[:4], "big")
        out.append(stream[4:4 + n])
        stream = stream[4 + n:]
    return out


def split(root, corpus):
    for data in captures(root, "pull-log", "c2s"):
        put(corpus, "broker_stream", data)
    for direction in ("c2s", "s2c"):
        for data in captures(root, "raw-tcp", direction):
            put(corpus, "raw_tcp_frames", data)
            for body in frames(data):
                put(corpus, "envelope", body)
    for data in captures(root, "websocket", "c2s"):
        put(corpus, "websocket_stream", data)
        put(corpus, "websocket_handshake", data[: data.find(b"\r\n\r\n") + 4])
    for data in captures(root, "long-poll", "c2s"):
        put(corpus, "long_poll_http", data)
    for data in captures(root, "sse", "c2s"):
        put(corpus, "sse_http", data)
    for data in captures(root, "sse", "s2c"):
        put(corpus, "sse_parser", data[data.find(b"\r\n\r\n") + 4:])
    for transport in ("long-poll", "sse"):
        for direction in ("c2s", "s2c"):
            for data in captures(root, transport, direction):
                for body in http_bodies(data)[:64]:
                    put(corpus, "long_poll_codec", body)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("proxy")
    pp.add_argument("--target", required=True)
    pp.add_argument("--out", required=True)
    sp = sub.add_parser("split")
    sp.add_argument("--captures", required=True)
    sp.add_argument("--corpus", required=True)
    a = p.parse_args()
    if a.cmd == "proxy":
        try:
            asyncio.run(proxy(a.target, a.out))
        except KeyboardInterrupt:
            pass
    else:
        split(a.captures, a.corpus)
    return 0


if __name__ == "__main__":
    sys.exit(main())
