#!/usr/bin/env python3
"""Open a WebSocket with a standard client (PyPI `websockets`), optionally read one message
(a notice), close it normally (1000), and print the close code the server answered with and
whether a Close frame came back at all.

    python3 close.py ws://127.0.0.1:PORT/topics/demo [notice]

Prints `received CODE` (1000 when the server echoes the client's Close frame, as RFC 6455
§5.5.1 asks) or `received none` (the server dropped TCP without a Close frame: a browser
reports 1006).
"""
import sys

from websockets.sync.client import connect

url = sys.argv[1]
with connect(url, max_size=None, close_timeout=10) as ws:
    if len(sys.argv) > 2 and sys.argv[2] == "notice":
        ws.recv(timeout=10)
    ws.close(code=1000, reason="bye")
    rcvd = ws.protocol.close_rcvd
    print("received", "none" if rcvd is None else rcvd.code, flush=True)
