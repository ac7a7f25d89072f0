"""A real HTTP server on 127.0.0.1 that plays SkyServer's ImgCutout `getjpeg` and SQL search
(`SqlSearch?cmd=...&format=csv`, answering the box queries of `prep query` from a galaxy table),
with faults.

Each cutout has a name and a script: the behaviour of its 1st, 2nd, ... request (the last one
repeats). Behaviours: `ok`; `503` (with Retry-After: 1); `500`; `404`; `slow` (answers after
SLOW_S, beyond the client's timeout); `truncate` (announces the whole JPEG, sends half, closes);
`wrongsize` (a JPEG 8 px smaller); `reset` (closes the connection with a TCP reset, no reply).
Every request is logged with its time and behaviour.
"""

from __future__ import annotations

import io
import re
import socket
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
from PIL import Image

SLOW_S = 1.5
NUMBER = r"([-+0-9.eE]+)"
BOX_RE = re.compile(rf"ra BETWEEN {NUMBER} AND {NUMBER} AND dec BETWEEN {NUMBER} AND {NUMBER}")


def noise_jpeg(seed: int, size: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


@dataclass
class Cutout:
    name: str
    ra: float
    dec: float
    size: int
    script: list[str]
    body: bytes = b""


@dataclass
class Served:
    """What the server saw: per name, the (time, behaviour) of every request."""

    requests: dict[str, list[tuple[float, str]]] = field(default_factory=lambda: defaultdict(list))
    authorization: list[str | None] = field(default_factory=list)  # of the SQL requests
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, name: str) -> int:
        return len(self.requests.get(name, []))


class _Handler(BaseHTTPRequestHandler):
    server: _StubServer

    def log_message(self, format, *args):
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path.endswith("/SqlSearch"):
            self._sql(query["cmd"][0])
            return
        key = (float(query["ra"][0]), float(query["dec"][0]))
        cutout = self.server.cutouts.get(key)
        if cutout is None and self.server.render is not None:
            body = self.server.render(*key, float(query["scale"][0]), int(query["width"][0]))
            with self.server.served.lock:
                self.server.served.requests["rendered"].append((time.monotonic(), "ok"))
            if body:
                self._reply(200, body, "image/jpeg")
            else:
                self._reply(400, b"no such cutout")
            return
        if cutout is None or int(query["width"][0]) != cutout.size:
            self._reply(400, b"unknown position")
            return
        served = self.server.served
        with served.lock:
            n = served.count(cutout.name)
            behaviour = cutout.script[min(n, len(cutout.script) - 1)]
            served.requests[cutout.name].append((time.monotonic(), behaviour))
        time.sleep(self.server.latency_s)
        if behaviour == "ok":
            self._reply(200, cutout.body, "image/jpeg")
        elif behaviour == "503":
            self._reply(503, b"busy", headers={"Retry-After": "1"})
        elif behaviour in ("500", "404"):
            self._reply(int(behaviour), b"error")
        elif behaviour == "slow":
            time.sleep(SLOW_S)
            self._reply(200, cutout.body, "image/jpeg")
        elif behaviour == "wrongsize":
            self._reply(200, noise_jpeg(1, cutout.size - 8), "image/jpeg")
        elif behaviour == "truncate":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(cutout.body)))
            self.end_headers()
            self.wfile.write(cutout.body[: len(cutout.body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif behaviour == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        else:
            raise ValueError(behaviour)

    def _sql(self, cmd: str) -> None:
        served = self.server.served
        with served.lock:
            n = served.count("sql")
            script = self.server.sql_script
            behaviour = script[min(n, len(script) - 1)]
            served.requests["sql"].append((time.monotonic(), behaviour))
            served.authorization.append(self.headers.get("Authorization"))
        if behaviour == "html":
            self._reply(200, b"<html><body>Error: the query timed out</body></html>")
            return
        if behaviour != "ok":
            self._reply(int(behaviour), b"error")
            return
        galaxies = self.server.galaxies
        ra, dec = np.asarray(galaxies["ra"]), np.asarray(galaxies["dec"])
        inside = np.zeros(len(galaxies), bool)
        for lo, hi, dlo, dhi in BOX_RE.findall(cmd):
            inside |= (
                (ra >= float(lo)) & (ra <= float(hi)) & (dec >= float(dlo)) & (dec <= float(dhi))
            )
        out = io.StringIO()
        galaxies[inside].write(out, format="ascii.csv")
        self._reply(200, ("#Table1\n" + out.getvalue()).encode(), "text/plain")

    def _reply(self, status: int, body: bytes, kind: str = "text/plain", headers=None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (a slow reply after its timeout)


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cutouts: dict, served: Served, latency_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.cutouts, self.served, self.latency_s = cutouts, served, latency_s
        self.galaxies, self.sql_script, self.render = None, ["ok"], None

    def handle_error(self, request, client_address) -> None:
        pass  # writes to connections the faults closed


class SkyServerStub:
    """Start with `with SkyServerStub(cutouts) as stub:`; `stub.url` is the getjpeg URL.
    `latency_s` delays every cutout reply (a distant server's round trip); `galaxies` (a table
    with objID, ra, dec, ...) answers SQL box queries at `stub.sql_url`, the n-th request
    behaving as `sql_script[n]` (`ok`, `html`: an error page with status 200, or an HTTP
    status; the last one repeats). `render(ra, dec, scale, size)` returns the JPEG bytes of
    positions not among `cutouts` (None: a bad request)."""

    def __init__(
        self,
        cutouts: list[Cutout],
        latency_s: float = 0.0,
        galaxies=None,
        sql_script: list[str] | None = None,
        render=None,
    ) -> None:
        for i, cutout in enumerate(cutouts):
            cutout.body = cutout.body or noise_jpeg(100 + i, cutout.size)
        self.cutouts = {c.name: c for c in cutouts}
        self.served = Served()
        self._server = _StubServer({(c.ra, c.dec): c for c in cutouts}, self.served, latency_s)
        self._server.galaxies, self._server.sql_script = galaxies, sql_script or ["ok"]
        self._server.render = render
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/SkyServerWS/ImgCutout/getjpeg"

    @property
    def sql_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/SkyServerWS/SearchTools/SqlSearch"

    def __enter__(self) -> SkyServerStub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
