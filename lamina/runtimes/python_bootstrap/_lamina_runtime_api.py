"""A minimal HTTP/1.1 client for the Lambda Runtime API, on one persistent connection.

Why not http.client: importing it costs ~45 ms on the reference host (it pulls in
email.parser and ssl), and even `socket` costs ~10 ms (enum conversions), against
a ~12 ms bare interpreter start. The Runtime API needs four requests with known
shapes, so this speaks HTTP directly over the C `_socket` module: one connection,
kept alive, re-opened once if the server dropped it between requests.

The connection is not inheritable (CLOEXEC, Python's default), so processes the
function spawns never hold it. Create the client after a fork, never before.
"""

from __future__ import annotations

import _socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket as Socket

_PREFIX = "/2018-06-01/runtime"


class RuntimeAPIError(Exception):
    """A Runtime API request failed (connection, or a non-2xx answer)."""


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers        # lower-case names
        self.body = body


class RuntimeAPI:
    """Client for http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/... (not thread-safe)."""

    def __init__(self, address: str, user_agent: str) -> None:
        host, sep, port = address.rpartition(":")
        if not sep:
            host, port = address, "80"
        self._target = (host.strip("[]"), int(port))
        self._fixed = f"Host: {address}\r\nUser-Agent: {user_agent}\r\n"
        self._sock: Socket | None = None
        self._buf = bytearray()

    # -- the four Runtime API calls ------------------------------------------------

    def next(self) -> Response:
        """Block until the next event (GET /invocation/next)."""
        return self._expect(200, "GET", f"{_PREFIX}/invocation/next")

    def post_response(self, request_id: str, body: bytes, content_type: str) -> None:
        self._expect(202, "POST", f"{_PREFIX}/invocation/{request_id}/response", body,
                     {"Content-Type": content_type})

    def post_error(self, request_id: str, body: bytes, error_type: str,
                   xray_cause: str | None) -> None:
        headers = {"Content-Type": "application/json",
                   "Lambda-Runtime-Function-Error-Type": error_type}
        if xray_cause:
            headers["Lambda-Runtime-Function-XRay-Error-Cause"] = xray_cause
        self._expect(202, "POST", f"{_PREFIX}/invocation/{request_id}/error", body, headers)

    def post_init_error(self, body: bytes, error_type: str) -> None:
        self._expect(202, "POST", f"{_PREFIX}/init/error", body,
                     {"Content-Type": "application/json",
                      "Lambda-Runtime-Function-Error-Type": error_type})

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buf.clear()

    # -- HTTP ------------------------------------------------------------------------

    def _expect(self, status: int, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:
        response = self.request(method, path, body, headers)
        if response.status != status:
            raise RuntimeAPIError(
                f"Request to Lambda Runtime '{path}' endpoint failed. Reason: "
                f"'{response.status}'. Response body: '{response.body!r}'")
        return response

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:
        head = f"{method} {path} HTTP/1.1\r\n{self._fixed}"
        if body is not None:
            head += f"Content-Length: {len(body)}\r\n"
        if headers:
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        data = (head + "\r\n").encode("utf-8")
        if body:
            # One send for small bodies avoids a second TCP segment with NODELAY.
            data = data + body if len(body) < 65536 else data
        reused = self._sock is not None
        try:
            self._send(data, body if body and len(body) >= 65536 else None)
            return self._read_response()
        except (OSError, _Dropped) as exc:
            self.close()
            if not reused or (isinstance(exc, OSError) and not _is_drop(exc)):
                raise RuntimeAPIError(f"Runtime API {method} {path} failed: {exc}") from None
        # The kept-alive connection was closed by the server before answering us:
        # nothing was processed, so one retry on a fresh connection is safe.
        try:
            self._send(data, body if body and len(body) >= 65536 else None)
            return self._read_response()
        except (OSError, _Dropped) as exc:
            self.close()
            raise RuntimeAPIError(f"Runtime API {method} {path} failed: {exc}") from None

    def _send(self, data: bytes, tail: bytes | None) -> None:
        if self._sock is None:
            self._sock = self._connect()
        self._sock.sendall(data)
        if tail is not None:
            self._sock.sendall(tail)

    def _connected(self) -> Socket:
        if self._sock is None:
            raise _Dropped("not connected")
        return self._sock

    def _connect(self) -> Socket:
        host, port = self._target
        error: OSError | None = None
        # A bytes host keeps getaddrinfo from importing the idna codec (~3 ms).
        name = host.encode("ascii") if host.isascii() else host
        for family, kind, proto, _, addr in _socket.getaddrinfo(name, port, 0,
                                                                 _socket.SOCK_STREAM):
            sock = _socket.socket(family, kind, proto)
            try:
                sock.connect(addr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            return sock
        raise error or OSError(f"cannot resolve {host}")

    def _fill(self) -> None:
        chunk = self._connected().recv(262144)
        if not chunk:
            raise _Dropped("connection closed by the Runtime API")
        self._buf += chunk

    def _read_response(self) -> Response:
        buf = self._buf
        while True:
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                self._fill()
                end = buf.find(b"\r\n\r\n")
            head = bytes(buf[:end]).decode("utf-8", "replace")
            del buf[:end + 4]
            lines = head.split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            if 100 <= status < 200:
                continue                      # interim answer; the real one follows
            break
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = self._read_exact(int(headers["content-length"]))
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        else:
            body = self._read_to_eof()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)

    def _read_exact(self, n: int) -> bytes:
        buf = self._buf
        if len(buf) < n:
            out = bytearray(n)
            have = len(buf)
            out[:have] = buf
            buf.clear()
            view = memoryview(out)
            while have < n:
                got = self._connected().recv_into(view[have:])
                if not got:
                    raise _Dropped("connection closed inside a response body")
                have += got
            return bytes(out)
        body = bytes(buf[:n])
        del buf[:n]
        return body

    def _read_line(self) -> bytes:
        buf = self._buf
        end = buf.find(b"\r\n")
        while end < 0:
            self._fill()
            end = buf.find(b"\r\n")
        line = bytes(buf[:end])
        del buf[:end + 2]
        return line

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self._read_line().split(b";", 1)[0], 16)
            if size == 0:
                while self._read_line():      # trailers end with an empty line
                    pass
                return b"".join(parts)
            parts.append(self._read_exact(size))
            self._read_line()

    def _read_to_eof(self) -> bytes:
        try:
            while True:
                self._fill()
        except _Dropped:
            pass
        body = bytes(self._buf)
        self.close()
        return body


class _Dropped(Exception):
    """The server closed the connection."""


def _is_drop(exc: OSError) -> bool:
    return isinstance(exc, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError))
