"""A second, independent WebSocket server for the tests: Python `websockets`
(Debian's python3-websockets), one client at a time, permessage-deflate with
the parameters given as JSON in argv[1]:

  {"server_max_window_bits": 8..15 | null, "client_max_window_bits": 8..15 | null,
   "server_no_context_takeover": bool, "client_no_context_takeover": bool}

or websockets' own defaults when argv[1] is {} (12-bit windows both ways,
memLevel 5).

It prints JSON lines on stdout and takes JSON lines on stdin:
  out {"port": n}                                  listening (first line)
  out {"event": "open", "extensions": "..."}       a client connected
  out {"event": "message", "binary": b, "length": n, "sha256": hex}
  out {"event": "close", "code": n, "reason": "..."}
  in  {"cmd": "send", "binary": b, "data": base64, "cuts": [byte offsets]}
      sends one message, in len(cuts) + 1 frames cut at those offsets (text
      cuts move back to a character boundary: websockets sends str frames)
  in  {"cmd": "close", "code": n}
"""
import asyncio
import base64
import hashlib
import json
import sys

import websockets
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def fragments(data, binary, cuts):
    points = []
    for c in sorted(cuts):
        if not binary:
            while 0 < c < len(data) and (data[c] & 0xC0) == 0x80:
                c -= 1
        points.append(c)
    pieces = []
    start = 0
    for c in points + [len(data)]:
        pieces.append(data[start:c])
        start = c
    return pieces if binary else [p.decode("utf-8") for p in pieces]


async def main():
    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    compression = {"compression": "deflate"}
    if cfg:
        compression = {"compression": None, "extensions": [ServerPerMessageDeflateFactory(
            server_no_context_takeover=bool(cfg.get("server_no_context_takeover")),
            client_no_context_takeover=bool(cfg.get("client_no_context_takeover")),
            server_max_window_bits=cfg.get("server_max_window_bits"),
            client_max_window_bits=cfg.get("client_max_window_bits"),
        )]}
    current = {"ws": None}
    opened = asyncio.Event()

    async def handler(ws, *_path):
        current["ws"] = ws
        out({"event": "open", "extensions": ws.response_headers.get("Sec-WebSocket-Extensions", "")})
        opened.set()
        try:
            async for msg in ws:
                data = msg if isinstance(msg, bytes) else msg.encode("utf-8")
                out({
                    "event": "message",
                    "binary": isinstance(msg, bytes),
                    "length": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                })
        except websockets.ConnectionClosed:
            pass
        out({"event": "close", "code": ws.close_code, "reason": ws.close_reason})

    server = await websockets.serve(
        handler, "127.0.0.1", 0,
        **compression,
        max_size=None, max_queue=None, ping_interval=None, close_timeout=5,
    )
    out({"port": server.sockets[0].getsockname()[1]})

    reader = asyncio.StreamReader(limit=1 << 30)
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        await opened.wait()
        ws = current["ws"]
        if cmd["cmd"] == "send":
            data = base64.b64decode(cmd["data"])
            pieces = fragments(data, cmd["binary"], cmd.get("cuts", []))
            try:
                await ws.send(pieces if len(pieces) > 1 else pieces[0])
            except websockets.ConnectionClosed:
                pass
        elif cmd["cmd"] == "close":
            await ws.close(cmd.get("code", 1000))
    server.close()
    await server.wait_closed()


asyncio.run(main())
