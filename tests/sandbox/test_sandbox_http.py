"""The sandbox server's own HTTP/1.1 layer (http_server.py): what it accepts, and what it refuses in words."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import pytest

from nemo_math.sandbox.http_server import HttpError, serve

TOKEN = b"Bearer right"
_HANG_BOUND_S = 60  # only stops a hang (the failure being tested), never a timing assumption


async def _echo(request):
    return 200, {"method": request.method.decode(), "path": request.path.decode(), "caller": request.caller,
                 "body": request.body.decode()}


def _admit(request):
    if request.headers.get(b"authorization") != TOKEN:
        raise HttpError(401, "wrong token")
    return "me"


@pytest.fixture(scope="module")
def address():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    started, stop = threading.Event(), None

    async def main():
        nonlocal stop
        stop = asyncio.Event()
        async with serve(_echo, _admit, "127.0.0.1", port, 600, 600, 1000) as server:
            started.set()
            await stop.wait()
            await server.drain(1)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(_HANG_BOUND_S)
    yield "127.0.0.1", port
    loop.call_soon_threadsafe(stop.set)
    thread.join(_HANG_BOUND_S)


def _request(body: bytes = b"", token: bytes = TOKEN, extra: str = "") -> bytes:
    return (f"POST /x?q=1 HTTP/1.1\r\nAuthorization: {token.decode()}\r\nContent-Length: {len(body)}\r\n{extra}"
            "\r\n").encode() + body


def _answers(sock: socket.socket, count: int) -> list[tuple[bytes, bytes, bytes]]:
    """(status line, head, body) of the next ``count`` answers."""
    buf, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {len(out)} answers"
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        size = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(buf) < size:
            buf += sock.recv(65536)
        out.append((head.split(b"\r\n")[0], head, buf[:size]))
        buf = buf[size:]
    return out


def _closed(sock: socket.socket) -> bool:
    return sock.recv(65536) == b""


def test_keep_alive_and_pipelined_requests_are_answered_in_order(address):
    with socket.create_connection(address, timeout=_HANG_BOUND_S) as s:
        s.sendall(_request(b"one") + b"\r\n" + _request(b"two"))  # a stray line end between them is allowed
        first, second = _answers(s, 2)
        assert [json.loads(a[2])["body"] for a in (first, second)] == ["one", "two"]
        assert json.loads(first[2]) == {"method": "POST", "path": "/x", "caller": "me", "body": "one"}
        s.sendall(_request(b"three", extra="Connection: close\r\n"))
        (status, head, body), = _answers(s, 1)
        assert status == b"HTTP/1.1 200 OK" and b"Connection: close" in head and _closed(s)


@pytest.mark.parametrize("raw, status", [
    (b"GARBAGE\r\n\r\n", b"400"),
    (b"POST /x HTTP/1.1\r\nAuthorization: Bearer right\r\nTransfer-Encoding: chunked\r\n\r\n", b"411"),
    (b"POST /x HTTP/1.1\r\nAuthorization: Bearer right\r\nContent-Length: 1001\r\n\r\n", b"413"),
    (b"POST /x HTTP/1.1\r\nAuthorization: Bearer right\r\nContent-Length: -1\r\n\r\n", b"400"),
    (b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", b"400"),
    (b"POST /x HTTP/1.1\r\nX: " + b"y" * (17 << 10) + b"\r\n\r\n", b"431"),
    (b"POST /x HTTP/1.1\r\nX: " + b"y" * (17 << 10), b"431"),  # no end of the head in sight
])
def test_what_it_does_not_speak_is_refused_and_the_connection_closed(address, raw, status):
    with socket.create_connection(address, timeout=_HANG_BOUND_S) as s:
        s.sendall(raw)
        (line, head, body), = _answers(s, 1)
        assert line.split(b" ")[1] == status and "error" in json.loads(body) and _closed(s)


def test_a_stranger_is_refused_before_its_body_is_waited_for(address):
    with socket.create_connection(address, timeout=_HANG_BOUND_S) as s:
        s.sendall(b"POST /x HTTP/1.1\r\nAuthorization: Bearer wrong\r\nContent-Length: 900\r\n\r\n")  # no body
        (line, _, body), = _answers(s, 1)  # at once, not after the body deadline (600 s here)
        assert line == b"HTTP/1.1 401 Unauthorized" and json.loads(body) == {"error": "wrong token"} and _closed(s)
