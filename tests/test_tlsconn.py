"""The hand-driven TLS client (lyncready/probes/tlsconn.py) against small loopback servers that misbehave
in ways nginx will not: closing or resetting mid-handshake, answering in plain HTTP, pipelined answers
without a length, headers past the limit. The well-behaved cases run against nginx in test_probes_real.py.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import trustme

from lyncready import build_options
from lyncready.facts import ConnStatus, FactStore, HttpQuery, TlsHandshake, TlsQuery
from lyncready.host import load_registry
from lyncready.probes.http import BOOTSTRAP
from lyncready.probes.tlsconn import TlsConnection

FQDN = "lync.example.test"


@contextmanager
def tcp_server(handler: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback listener that runs handler(conn) in a thread for every connection."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    lsock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(5)
            threading.Thread(target=_run, args=(handler, conn), daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield int(lsock.getsockname()[1])
    finally:
        stop.set()
        t.join()
        lsock.close()


def _run(handler: Callable[[socket.socket], None], conn: socket.socket) -> None:
    try:
        handler(conn)
    except OSError:
        pass
    finally:
        conn.close()


def handshake(port: int, ca_bundle: str | None = None, timeout: float = 2.0) -> TlsHandshake:
    options = build_options(timeout=timeout, ca_bundle=ca_bundle)
    registry = load_registry(autoload=False)

    async def main() -> TlsHandshake:
        store = FactStore(dict(registry.probes), options)
        try:
            return await store.get(TlsQuery("127.0.0.1", port, FQDN))
        finally:
            store.close()

    return asyncio.run(main())


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def leaf(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert(FQDN)


@pytest.fixture(scope="module")
def ca_bundle(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("tlsconn") / "root.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def tls_server_context(leaf: trustme.LeafCert) -> ssl.SSLContext:
    sc = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(sc)
    return sc


def test_server_closing_mid_handshake_is_a_reset() -> None:
    def close_after_hello(conn: socket.socket) -> None:
        conn.recv(4096)

    with tcp_server(close_after_hello) as port:
        hs = handshake(port)
    assert hs.status is ConnStatus.RESET, hs
    assert hs.reason == f"127.0.0.1:{port} reset the connection during the handshake"


def test_server_resetting_mid_handshake_is_a_reset() -> None:
    def reset_after_hello(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close() sends RST

    with tcp_server(reset_after_hello) as port:
        hs = handshake(port)
    assert hs.status is ConnStatus.RESET, hs


def test_plain_http_answer_is_a_tls_error() -> None:
    def http_answer(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    with tcp_server(http_answer) as port:
        hs = handshake(port)
    assert hs.status is ConnStatus.TLS_ERROR, hs
    assert hs.reason.startswith("TLS handshake failed: "), hs.reason
    assert "WRONG_VERSION_NUMBER" in hs.reason or "wrong version number" in hs.reason


def _tls_answering(leaf: trustme.LeafCert, answer: bytes) -> Callable[[socket.socket], None]:
    sc = tls_server_context(leaf)

    def handler(conn: socket.socket) -> None:
        with sc.wrap_socket(conn, server_side=True) as tls:
            data = b""
            while data.count(b"\r\n\r\n") < len(BOOTSTRAP):
                chunk = tls.recv(4096)
                if not chunk:
                    return
                data += chunk
            tls.sendall(answer)

    return handler


def test_pipelined_bootstrap_answers_are_read_over_the_handshake(leaf: trustme.LeafCert, ca_bundle: str) -> None:
    body = b"hello"
    one = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    two = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nWWW-Authenticate: NTLM\r\n\r\n"
    with tcp_server(_tls_answering(leaf, one + two)) as port:
        hs = handshake(port, ca_bundle)
    assert hs.status is ConnStatus.OK, hs
    assert hs.version == "TLSv1.3"
    assert hs.verified is True
    assert [(path, r.code) for path, r in hs.responses] == [(BOOTSTRAP[0], 200), (BOOTSTRAP[1], 401)]
    assert dict(hs.responses)[BOOTSTRAP[1]].headers == (("Content-Length", "0"), ("WWW-Authenticate", "NTLM"))
    assert hs.chain == (ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode()),)


def test_answer_without_length_stops_the_pipeline(leaf: trustme.LeafCert) -> None:
    one = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until close"
    with tcp_server(_tls_answering(leaf, one)) as port:
        hs = handshake(port)
    assert hs.status is ConnStatus.OK, hs
    assert [(path, r.code) for path, r in hs.responses] == [(BOOTSTRAP[0], 200)]


def test_headers_past_the_limit_give_no_answer_but_keep_the_handshake(leaf: trustme.LeafCert) -> None:
    huge = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 100_000 + b"\r\n\r\n"
    with tcp_server(_tls_answering(leaf, huge)) as port:
        hs = handshake(port)
    assert hs.status is ConnStatus.OK, hs
    assert hs.responses == ()


def test_https_query_for_a_bootstrap_path_uses_the_handshake_answers(leaf: trustme.LeafCert, ca_bundle: str) -> None:
    connections: list[int] = []
    one = b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"
    two = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    inner = _tls_answering(leaf, one + two)

    def counting(conn: socket.socket) -> None:
        connections.append(1)
        inner(conn)

    options = build_options(timeout=2.0, ca_bundle=ca_bundle)
    registry = load_registry(autoload=False)
    with tcp_server(counting) as port:

        async def main() -> list[int | None]:
            store = FactStore(dict(registry.probes), options)
            try:
                out = [(await store.get(HttpQuery("https", "127.0.0.1", port, FQDN, path))).code for path in BOOTSTRAP]
                await store.get(TlsQuery("127.0.0.1", port, FQDN))
                return out
            finally:
                store.close()

        codes = asyncio.run(main())
    assert codes == [302, 200]
    assert len(connections) == 1  # one handshake served both GETs and the TLS facts


def test_handshake_work_runs_in_a_worker_thread(leaf: trustme.LeafCert, ca_bundle: str) -> None:
    """The server's flight (certificate parsing, signature checks) is processed off the event loop."""
    seen: list[str] = []
    real = TlsConnection._handshake

    async def spy(self: TlsConnection) -> None:
        original = self.sslobj.do_handshake

        def recording() -> None:
            seen.append(threading.current_thread().name)
            original()

        self.sslobj.do_handshake = recording  # type: ignore[method-assign]
        await real(self)

    with tcp_server(_tls_answering(leaf, b"")) as port, pytest.MonkeyPatch.context() as mp:
        mp.setattr(TlsConnection, "_handshake", spy)
        hs = handshake(port, ca_bundle)
    assert hs.status is ConnStatus.OK, hs
    assert hs.verified is True
    assert seen[0] == threading.main_thread().name  # the ClientHello
    assert any(name.startswith("lyncready-tls") for name in seen[1:]), seen


def test_a_server_name_that_is_no_host_name_is_a_tls_error() -> None:
    def idle(conn: socket.socket) -> None:
        conn.recv(10)

    options = build_options(timeout=2.0)
    registry = load_registry(autoload=False)
    with tcp_server(idle) as port:

        async def main() -> TlsHandshake:
            store = FactStore(dict(registry.probes), options)
            try:
                return await store.get(TlsQuery("127.0.0.1", port, "bad..name"))
            finally:
                store.close()

        hs = asyncio.run(main())
    assert hs.status is ConnStatus.TLS_ERROR, hs
    assert "cannot send 'bad..name' as the TLS server name" in hs.reason
