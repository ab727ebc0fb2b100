"""The web admin's real server (waitress, as `trunkline run` starts it): many half-open and slow connections do not
stop /login answering promptly; an upload over the size limit is refused with 413 from its headers, before its
body is read (the server never holds it)."""
import socket
import time
import urllib.request

from web_fixtures import make_app

from trunkline.webadmin import serve


def _connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(5)
    return s


def _response_head(s, limit=10.0):
    """The status line and headers the server sent on socket `s` (b'' if it sent none within `limit` s)."""
    data = b""
    deadline = time.monotonic() + limit
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        try:
            chunk = s.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            break
        data += chunk
    return data


def test_half_open_and_slow_connections_do_not_stop_login(tmp_path):
    app, _ = make_app(tmp_path)
    stopper = serve(app, port=0)                        # the wiring `trunkline run` uses (its thread count)
    port = stopper.port
    held = []
    try:
        for i in range(120):
            s = _connect(port)
            if i % 3 == 0:
                s.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\nUser-Agent: slo")          # headers never end
            elif i % 3 == 1:
                s.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\nusername=a")   # body never
            held.append(s)                                                                # (else: connect only)
        time.sleep(0.5)
        for s in held[::2]:
            s.sendall(b"X")                              # slow clients still trickling
        for _ in range(3):
            t0 = time.monotonic()
            assert urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10).status == 200
            assert time.monotonic() - t0 < 3.0
    finally:
        for s in held:
            s.close()
        stopper.stop()


def test_upload_over_the_limit_is_refused_from_its_headers(tmp_path):
    limit = 1024 * 1024
    app, _ = make_app(tmp_path, MAX_CONTENT_LENGTH=limit)
    stopper = serve(app, port=0, threads=4)
    port = stopper.port
    try:
        for path in ("/config/prompts", "/config/moh", "/campaigns", "/fax/send"):
            s = _connect(port)
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                      f"Content-Length: {200 * limit}\r\n\r\n".encode() + b"--b\r\n" + b"\0" * 4096)
            t0 = time.monotonic()
            head = _response_head(s)                     # the 200 MiB body is never sent
            s.close()
            assert head.startswith(b"HTTP/1.1 413"), (path, head[:200])
            assert time.monotonic() - t0 < 3.0
        # a chunked upload (no length up front) is cut off once it passes the limit
        s = _connect(port)
        s.sendall(b"POST /config/prompts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")
        chunk = b"%x\r\n" % 65536 + b"\0" * 65536 + b"\r\n"
        sent = 0
        try:
            while sent < 4 * limit:
                s.sendall(chunk)
                sent += 65536
        except OSError:
            pass                                         # the server closed the connection after refusing it
        head = _response_head(s)
        s.close()
        assert head.startswith(b"HTTP/1.1 413"), head[:200]
        # requests within the limit are still served
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10).status == 200
    finally:
        stopper.stop()
