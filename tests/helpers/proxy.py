"""A TCP proxy in front of a real server, which a test closes to make that server go away for
the process under test: the port stops listening and every open connection is cut, as when
the server's host goes down; the server itself, shared with other tests, stays up."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Proxy:
    """Forwards 127.0.0.1:`port` to `target`; `close` takes both away."""

    target: tuple[str, int]
    listener: socket.socket
    port: int
    sockets: list[socket.socket] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # the listener was closed
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.closed:
                    client.close()
                    upstream.close()
                    return
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        """Nothing listens on the port any more and every forwarded connection is cut."""
        with self.lock:
            self.closed = True
            self.listener.close()
            for one in self.sockets:
                with contextlib.suppress(OSError):
                    one.shutdown(socket.SHUT_RDWR)
                one.close()


def pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextmanager
def tcp_proxy(host: str, port: int) -> Iterator[Proxy]:
    """A running proxy to `host:port` on a free loopback port, closed at the end."""
    listener = socket.create_server(("127.0.0.1", 0))
    proxy = Proxy((host, port), listener, int(listener.getsockname()[1]))
    thread = threading.Thread(target=proxy.serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.close()
        thread.join(10)
