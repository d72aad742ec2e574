#!/usr/bin/env python3
"""Subscribe to a transport-bench WebSocket topic with a standard client (PyPI `websockets`,
not this project's code) and print one line per message: its topic position, its length and
its first bytes in hex.

    pip install websockets
    python3 subscribe.py ws://127.0.0.1:PORT/topics/demo [COUNT]

Add `?from=N&epoch=E` to the URL to resume at topic position N of the server whose epoch is E
(a restarted server has another epoch and starts you at its oldest message instead). The first
message is a text notice `{"position":N,"epoch":E}`; every later one is a binary frame: u64 BE
position of its first message, then per message a u32 BE length and the bytes.
"""
import struct
import sys

from websockets.sync.client import connect

url = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else None

# The sync client answers the server's pings in a background thread.
with connect(url, max_size=None) as ws:
    print("subscribed", ws.recv(timeout=10), flush=True)
    got = 0
    while count is None or got < count:
        frame = ws.recv(timeout=None if count is None else 10)
        (position,) = struct.unpack_from(">Q", frame, 0)
        at = 8
        while at < len(frame):
            (length,) = struct.unpack_from(">I", frame, at)
            message = frame[at + 4 : at + 4 + length]
            at += 4 + length
            print(position, length, message[:12].hex(), flush=True)
            position += 1
            got += 1
