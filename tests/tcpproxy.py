"""A TCP proxy on 127.0.0.1 that tests can sever, to cut kept's connection mid-command.

Bytes are passed through untouched (TLS included), so kept talks to the real
server behind it. `cut_after` arms the proxy to drop every connection once
that many bytes have gone from the server to the client; `refuse` makes it
close new connections at once, as a server that is down does.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SeverableProxy:
    """Forward 127.0.0.1:`port` to `target`; see the module docstring.

    :ivar cuts: how many times the proxy has severed connections.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._budget: int | None = None
        self._refusing = False
        self._closed = False
        self.cuts = 0
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, server_bytes: int | None) -> None:
        """Sever all connections once `server_bytes` more bytes came from the server (None: never)."""
        with self._lock:
            self._budget = server_bytes

    def refuse(self, refusing: bool = True) -> None:
        """While refusing, every new connection is closed at once."""
        self._refusing = refusing

    def sever(self) -> None:
        """Close every open connection now."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
            self.cuts += 1
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        """Stop listening and drop all connections."""
        self._closed = True
        self._listener.close()
        self.sever()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_server: bool) -> None:
        try:
            while True:
                data = source.recv(16384)
                if not data:
                    break
                cut = False
                if from_server:
                    with self._lock:
                        if self._budget is not None:
                            if len(data) >= self._budget:
                                data, cut = data[: self._budget], True
                                self._budget = None
                            else:
                                self._budget -= len(data)
                if data:
                    sink.sendall(data)
                if cut:
                    self.sever()
                    return
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@contextmanager
def proxy_to(target: tuple[str, int]) -> Iterator[SeverableProxy]:
    """A running `SeverableProxy`, closed afterwards."""
    proxy = SeverableProxy(target)
    try:
        yield proxy
    finally:
        proxy.close()
