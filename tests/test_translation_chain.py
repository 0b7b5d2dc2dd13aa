"""The online translation chain against a fake LibreTranslate server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from bot.config import TranslationSection
from bot.storage import Store
from bot.translation.chain import Breaker, Translator, normalise


class FakeLibre:
    """Speaks LibreTranslate's /translate JSON API; ``mode``: ok | hang | error."""

    def __init__(self):
        self.mode = "ok"
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                query = parse_qs(urlparse(self.path).query)
                length = int(self.headers.get("Content-Length") or 0)
                query.update(parse_qs(self.rfile.read(length).decode()))
                fake.requests.append({k: v[0] for k, v in query.items()})
                if fake.mode == "hang":
                    time.sleep(3)
                if fake.mode == "error":
                    self.send_response(500)
                    self.end_headers()
                    return
                body = json.dumps({"translatedText": f"EN[{query['q'][0]}]"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def libre():
    server = FakeLibre()
    yield server
    server.close()


@pytest.fixture
async def store(tmp_path):
    store = await Store.open(tmp_path / "db", tmp_path / "img")
    yield store
    await store.close()


# Generous by default: on a loaded 2-core CI runner a first local round trip has
# taken over 0.5 s. The hang test sets its own short timeout.
def chain(libre: FakeLibre, store: Store, timeout: float = 10.0) -> Translator:
    return Translator(TranslationSection(providers=["libre"], libre_url=libre.url,
                                         timeout_s=timeout, breaker_failures=2,
                                         breaker_cooldown_s=60), store)


PROMPT = "kucing hitam tidur di atas sofa"


async def test_provider_success_is_used_and_cached(libre, store):
    tr = chain(libre, store)
    first = await tr.to_english(PROMPT)
    assert (first.text, first.provider, first.source_lang) == (f"EN[{PROMPT}]", "libre", "id")
    assert libre.requests[0]["source"] == "id" and libre.requests[0]["target"] == "en"
    again = await tr.to_english("  Kucing hitam   tidur di atas SOFA ")
    assert again.provider == "cache" and again.text == first.text
    assert len(libre.requests) == 1  # the cache hit made no call
    tr.close()


async def test_a_hanging_provider_costs_no_more_than_its_timeout(libre, store):
    libre.mode = "hang"
    tr = chain(libre, store, timeout=0.5)
    start = time.perf_counter()
    result = await tr.to_english(PROMPT)
    elapsed = time.perf_counter() - start
    assert result.provider == "offline"
    assert "cat" in result.text.lower()
    assert elapsed < 0.5 + 1.0, elapsed  # the server hangs 3 s; slack for a loaded runner
    tr.close()


async def test_an_erroring_provider_falls_back_and_trips_the_breaker(libre, store):
    libre.mode = "error"
    tr = chain(libre, store)
    for _ in range(2):
        assert (await tr.to_english(PROMPT)).provider == "offline"
    assert len(libre.requests) == 2
    assert tr.breakers["libre"].open
    assert (await tr.to_english("anjing merah")).provider == "offline"
    assert len(libre.requests) == 2  # skipped while the breaker is open
    tr.close()


async def test_protected_text_is_never_sent_or_changed(libre, store):
    tr = chain(libre, store)
    result = await tr.to_english('kucing "Doraemon" di (castle:1.3) pada 1990')
    sent = [r["q"] for r in libre.requests]
    assert all("Doraemon" not in q and "castle:1.3" not in q for q in sent)
    assert '"Doraemon"' in result.text and "(castle:1.3)" in result.text
    assert "1990" in result.text
    tr.close()


async def test_english_and_raw_pass_through(libre, store):
    tr = chain(libre, store)
    assert (await tr.to_english("masterpiece, 1girl, pastel colors")).provider == "none"
    assert (await tr.to_english(PROMPT, raw=True)).text == PROMPT
    assert libre.requests == []
    tr.close()


def test_breaker_closes_after_cooldown():
    now = [0.0]
    breaker = Breaker(2, 10, clock=lambda: now[0])
    breaker.failure()
    assert not breaker.open
    breaker.failure()
    assert breaker.open
    now[0] = 11
    assert not breaker.open


def test_normalise():
    assert normalise("  Kucing\tHITAM ") == "kucing hitam"
