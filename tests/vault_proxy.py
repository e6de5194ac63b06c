"""A tiny real HTTP proxy in front of OpenBao that loses or delays the answer to chosen requests.

What Vault sees and answers is real; only the path back is broken, the way a network or a load
balancer breaks it: `lose_answer` lets the request reach Vault and closes the client's socket
without its answer; `hold` keeps the request from Vault past the client's timeout, then sends it
anyway (a write that lands late); `delay` answers every matching request late but answers it (a
slow Vault); `down` refuses connections until `up`. Each request goes to
Vault on a connection of its own (`Connection: close`), so one request is one decision.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field


@dataclass
class Rule:
    action: str  # "lose_answer", "hold" or "delay"
    pattern: re.Pattern[str]  # matched against the request line, e.g. "POST /v1/secret/data/x HTTP/1.1"
    hold_seconds: float = 0.0
    then_down: bool = False  # stop listening once Vault has answered (Vault "gone" right after)
    landed: threading.Event = field(default_factory=threading.Event)  # Vault answered the request
    answer: bytes = b""


class VaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.addr = f"http://127.0.0.1:{self.port}"
        self._listen()

    def _listen(self) -> None:
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def down(self) -> None:
        """Connections are refused, as by a stopped Vault."""
        # shutdown() wakes the thread blocked in accept(); close() alone would leave it accepting.
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def up(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listen()

    def lose_answer(self, method: str, path_pattern: str, *, then_down: bool = False) -> Rule:
        return self._add(Rule("lose_answer", re.compile(f"^{method} /v1/{path_pattern}"), then_down=then_down))

    def hold(self, method: str, path_pattern: str, seconds: float) -> Rule:
        return self._add(Rule("hold", re.compile(f"^{method} /v1/{path_pattern}"), hold_seconds=seconds))

    def delay(self, methods: str, path_pattern: str, seconds: float) -> Rule:
        """Every matching request (`methods` a regex, e.g. "GET|POST") reaches Vault `seconds` late,
        and its answer comes back: a slow Vault, not a broken one. Stays until the proxy closes."""
        return self._add(Rule("delay", re.compile(f"^({methods}) /v1/{path_pattern}"), hold_seconds=seconds))

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def _take_rule(self, request_line: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.pattern.match(request_line):
                    if rule.action != "delay":
                        self._rules.remove(rule)  # one request each
                    return rule
        return None

    def close(self) -> None:
        self.down()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            request = read_request(client)
            if request is None:
                return
            request_line = request.split(b"\r\n", 1)[0].decode("latin-1")
            rule = self._take_rule(request_line)
            if rule is not None and rule.action in ("hold", "delay"):
                time.sleep(rule.hold_seconds)  # held: the client gives up meanwhile; the request still goes
            answer = self._forward(request)
            if rule is not None and rule.action != "delay":
                rule.answer = answer
                if rule.then_down:
                    self.down()
                rule.landed.set()
                return  # lost or too late: the client never gets it
            with suppress(OSError):
                client.sendall(answer)

    def _forward(self, request: bytes) -> bytes:
        with socket.create_connection(self._upstream, timeout=30) as upstream:
            upstream.sendall(request)
            chunks = []
            while chunk := upstream.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def read_request(client: socket.socket) -> bytes | None:
    """One HTTP/1.1 request, its `Connection` header replaced by `close`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    length = next((int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = client.recv(65536)
        if not chunk:
            return None
        body += chunk
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


@contextmanager
def vault_proxy(upstream_addr: str) -> Iterator[VaultProxy]:
    proxy = VaultProxy(int(upstream_addr.rsplit(":", 1)[1]))
    try:
        yield proxy
    finally:
        proxy.close()
