"""The fake Bot API behaves as Telegram does where the tests rely on it."""

from __future__ import annotations

import json
import socket
import urllib.request

from tests.fake_telegram import FakeBotAPI


def _post(fake: FakeBotAPI, method: str, body: bytes, *, length: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", fake.port), timeout=5)
    head = (f"POST /bot{fake.token}/{method} HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {length}\r\n\r\n")
    sock.sendall(head.encode() + body)
    return sock


def test_a_request_cut_short_is_never_acted_on():
    """A bot killed mid-upload leaves a body shorter than its Content-Length: Telegram
    drops it, so the fake must not record it (a test would count a picture never sent)."""
    fake = FakeBotAPI()
    try:
        body = b"chat_id=1&text=hello"
        sock = _post(fake, "sendMessage", body[:12], length=len(body))  # "chat_id=1&te"
        sock.shutdown(socket.SHUT_WR)  # the client dies: EOF before the whole body
        assert sock.recv(100) == b""  # no answer
        sock.close()
        request = urllib.request.Request(
            f"{fake.base_url}{fake.token}/sendMessage", data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert json.loads(answer.read())["ok"]
        assert [c.params for c in fake.calls] == [{"chat_id": "1", "text": "hello"}]
    finally:
        fake.close()
