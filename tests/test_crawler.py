"""The website crawler against a real HTTP server on 127.0.0.1 serving a small district website
(tests/fixtures/site plus a few generated responses), ingested into a real Chroma store with the real
embedding model."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path

import pytest

from bot.services import build_index
from knowledge.crawler import ATTEMPTS, WebsiteSource, normalize_url
from knowledge.documents import Document
from knowledge.sources import Failed, Unchanged, WebsiteConfig, build_source
from siwi.settings import Settings
from tests.conftest import FIXTURES
from tests.test_documents_pdf_docx import text_pdf, word_file

SITE = FIXTURES / "site"
PDF_PATH = "/formulare/merkblatt-zulassung.pdf"
PDF_MODIFIED = "Mon, 03 Mar 2025 08:00:00 GMT"
MERKBLATT_ZULASSUNG = [["Merkblatt Zulassung",
                        "Für die Zulassung brauchen Sie die Zulassungsbescheinigung Teil II und den Nachweis der "
                        "Hauptuntersuchung.",
                        "Die Zulassungsstelle finden Sie im Kreishaus, Erdgeschoss, Zimmer 012."]]
SLOW_SECONDS = 1.5
TIMEOUT = 0.5
MAX_BYTES = 200_000


@dataclass
class Request:
    host: str
    path: str
    headers: dict[str, str]
    at: float
    status: int = 0


class FixtureSite:
    """What the server serves and what it was asked; tests change the site between crawls."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.replacements: dict[str, tuple[str, str]] = {}
        self.removed: set[str] = set()
        self.flaky = {"/buergerservice/wackelig.html": 1}
        """503 answers left before the page works."""
        self.crawl_delay: float | None = None
        self.big_sitemap = 0
        self.robots_status = 200
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.site = self  # type: ignore[attr-defined]
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.extern = f"http://localhost:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def paths(self, host: str | None = None) -> list[str]:
        host = host or f"127.0.0.1:{self.port}"
        return [r.path for r in self.requests if r.host == host]

    def page_requests(self) -> list[Request]:
        return [r for r in self.requests if not r.path.endswith((".txt", ".xml"))]

    def response(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes | None]:
        """(status, headers, body); body None means: send no Content-Length (the connection end delimits)."""
        if path in self.removed:
            return 404, {}, b"Seite nicht gefunden"
        if path == "/robots.txt" and self.robots_status != 200:
            return self.robots_status, {}, b"Fehler"
        if path == "/alt/wohngeld":
            return 301, {"Location": "/buergerservice/wohngeld.html"}, b""
        if path == "/schleife/a":
            return 302, {"Location": f"{self.base}/schleife/b"}, b""
        if path == "/schleife/b":
            return 302, {"Location": "/schleife/a"}, b""
        if path == "/kaputt.html":
            return 500, {}, b"Interner Fehler"
        if path == "/langsam.html":
            time.sleep(SLOW_SECONDS)
            return 200, {"Content-Type": "text/html"}, b"<html><body><p>Endlich da.</p></body></html>"
        if path == "/gross.html":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, None
        if path == PDF_PATH:
            if headers.get("if-modified-since") == PDF_MODIFIED:
                return 304, {}, b""
            return 200, {"Content-Type": "application/pdf", "Last-Modified": PDF_MODIFIED}, \
                text_pdf(MERKBLATT_ZULASSUNG)
        if path == "/massen-sitemap.xml":
            entries = "".join(f"<url><loc>{self.base}/massen/seite-{i}.html</loc></url>\n"
                              for i in range(self.big_sitemap))
            return 200, {"Content-Type": "application/xml"}, \
                f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'.encode()
        if path == "/formulare/gebuehren.docx":
            return 200, {"Content-Type": "application/octet-stream"}, word_file()
        if path == "/weiter-extern":
            return 302, {"Location": f"{self.extern}/extern.html"}, b""
        if path.startswith("/kette/"):
            return 302, {"Location": f"/kette/{int(path.rpartition('/')[2]) + 1}"}, b""
        if path.startswith("/massen/"):
            return 200, {"Content-Type": "text/html"}, \
                f"<html><body><h1>Seite {path}</h1><p>Eine von sehr vielen Seiten.</p></body></html>".encode()
        if self.flaky.get(path):
            self.flaky[path] -= 1
            return 503, {"Retry-After": "1"}, b"Wartungsarbeiten"
        file = SITE / (path.lstrip("/") + ("index.html" if path.endswith("/") else ""))
        if not file.is_file() or not file.resolve().is_relative_to(SITE):
            return 404, {}, b"Seite nicht gefunden"
        text = file.read_text(encoding="utf-8").replace("{{BASE}}", self.base).replace("{{EXTERN}}", self.extern)
        if path in self.replacements:
            text = text.replace(*self.replacements[path])
        if path == "/robots.txt" and self.crawl_delay is not None:
            text += f"\nUser-agent: *\nCrawl-delay: {self.crawl_delay}\n"
        body = text.encode()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if headers.get("if-none-match") == etag:
            return 304, {"ETag": etag}, b""
        kind = {".html": "text/html; charset=utf-8", ".xml": "application/xml", ".txt": "text/plain"}[file.suffix]
        return 200, {"Content-Type": kind, "ETag": etag}, body

    def __enter__(self) -> FixtureSite:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        site: FixtureSite = self.server.site  # type: ignore[attr-defined]
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(headers.get("host", ""), self.path, headers, time.monotonic())
        site.requests.append(request)
        status, extra, body = site.response(self.path, headers)
        request.status = status
        try:
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            if body is not None:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body is None:  # /gross.html: streamed until the client gives up
                for _ in range(4000):
                    self.wfile.write(b"<p>Haushaltsplan des Landkreises Lindenau, Teilplan Jugend und Soziales.</p>\n")
            elif status != 304:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the crawler hung up (timeout, size cap): that is what is tested

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    with FixtureSite() as running:
        yield running


def website(site: FixtureSite, **overrides) -> WebsiteConfig:
    config = dict(type="website", name="kreis", start_urls=[site.url("/")], sitemaps=[site.url("/sitemap.xml")],
                  delay_seconds=0, timeout_seconds=TIMEOUT, max_bytes=MAX_BYTES, max_pages=50)
    return WebsiteConfig.model_validate(config | overrides)


PAGES = ["/", "/impressum.html", "/buergerservice/kfz-zulassung.html", "/buergerservice/hundesteuer.html",
         "/buergerservice/wohngeld.html", "/buergerservice/standesamt.html", "/buergerservice/wackelig.html",
         "/aktuelles/baustelle.html", PDF_PATH]
FAILING = {"/schleife/a": "redirect loop", "/gibt-es-nicht.html": "HTTP 404", "/kaputt.html": "HTTP 500",
           "/langsam.html": "timed out", "/gross.html": "too large"}


def test_crawl_ingest_recrawl_and_prune(site: FixtureSite, settings, embedder, tmp_path: Path, caplog):
    caplog.set_level(logging.INFO, logger="knowledge.crawler")
    config = website(site)
    index = build_index(settings, embedder)
    ingestor = index.ingestor(settings)
    urls = {path: site.url(path) for path in PAGES}

    # First crawl: every reachable page and the PDF are indexed; each broken link fails with its reason.
    first = ingestor.ingest_source(build_source(config, tmp_path / "state"))
    assert sorted(first.added) == sorted(urls.values()) and not first.updated and not first.unchanged
    failed = dict(first.failed)
    assert set(failed) == {site.url(path) for path in FAILING}
    for path, reason in FAILING.items():
        assert reason in failed[site.url(path)] and site.url(path) in failed[site.url(path)]
    assert set(index.store.source_hashes()) == set(urls.values())

    requested = Counter(site.paths())
    assert requested["/langsam.html"] == ATTEMPTS  # timeouts are retried
    assert requested["/buergerservice/wackelig.html"] == 2  # one 503, then the page
    assert all(n == 1 for path, n in requested.items() if path not in ("/langsam.html",
                                                                        "/buergerservice/wackelig.html"))
    assert "/intern/personalrat.html" not in requested  # robots.txt, though nav and sitemap link it
    assert site.paths(f"localhost:{site.port}") == []  # the outside host
    assert "/bilder/logo.png" not in requested
    assert "/buergerservice/merkblatt-zulassung.pdf" not in requested  # <base href> was honoured
    assert all(r.headers["user-agent"] == config.user_agent for r in site.requests)
    assert not any("if-none-match" in r.headers or "if-modified-since" in r.headers for r in site.requests)
    summary = [r.message for r in caplog.records if r.message.startswith("crawl kreis:")]
    assert len(summary) == 1 and "9 documents" in summary[0] and "5 failed" in summary[0] \
        and "1 skipped by robots.txt" in summary[0] and "0 left out" in summary[0]

    retriever = index.retriever(settings)
    hits = retriever.retrieve("Was kostet die Zulassung eines Autos?", k=3)
    assert any(h.url == urls["/buergerservice/kfz-zulassung.html"] and "27,90 Euro" in h.text for h in hits)
    hits = retriever.retrieve("In welchem Zimmer ist die Zulassungsstelle?", k=3)
    assert any(h.url == site.url(PDF_PATH) and "Zimmer 012" in h.text for h in hits)
    hits = retriever.retrieve("Wohngeld Antrag Zimmer", k=3)
    assert hits[0].url == urls["/buergerservice/wohngeld.html"]  # the final URL of the redirect
    everything = " ".join(h.text for h in retriever.retrieve("Landkreis Lindenau", k=20))
    for boilerplate in ("Cookies", "Alle akzeptieren", "Zum Inhalt springen", "Seite drucken", "Folgen Sie uns"):
        assert boilerplate not in everything

    # Second crawl: the dog tax changed, the road works notice is gone; everything else answers 304.
    site.requests.clear()
    hundesteuer = "/buergerservice/hundesteuer.html"
    site.replacements[hundesteuer] = ("96 Euro im Jahr", "108 Euro im Jahr")
    site.removed.add("/aktuelles/baustelle.html")
    site.removed.add("/langsam.html")  # it has made its point; three timeouts per crawl only cost time
    second = ingestor.ingest_source(build_source(config, tmp_path / "state"))
    assert second.updated == [urls[hundesteuer]] and not second.added and second.removed == []
    unchanged = set(urls.values()) - {urls[hundesteuer], urls["/aktuelles/baustelle.html"]}
    assert set(second.unchanged) == unchanged
    assert sum(r.status == 304 for r in site.requests) == len(unchanged)
    assert site.url("/aktuelles/baustelle.html") in dict(second.failed)
    chunks_of_hundesteuer = len(index.store.ids_for_source(urls[hundesteuer]))
    assert second.chunks_written == chunks_of_hundesteuer
    hits = retriever.retrieve("Wie hoch ist die Hundesteuer für den ersten Hund?", k=5)
    texts = " ".join(h.text for h in hits)
    assert "108 Euro" in texts and "96 Euro" not in texts
    assert urls["/aktuelles/baustelle.html"] in index.store.source_hashes()  # kept without prune

    # Third crawl with prune: the 404 page goes, and so does the PDF once no page links it any more.
    site.replacements["/buergerservice/kfz-zulassung.html"] = (
        '<p>Alle Unterlagen nennt auch das <a href="merkblatt-zulassung.pdf">Merkblatt Zulassung (PDF)</a>.</p>', "")
    site.requests.clear()
    third = ingestor.ingest_source(build_source(config, tmp_path / "state"), prune=True)
    assert PDF_PATH not in site.paths() and third.chunks_written > 0
    assert sorted(third.removed) == sorted([urls["/aktuelles/baustelle.html"], urls[PDF_PATH]])
    assert third.updated == [urls["/buergerservice/kfz-zulassung.html"]]
    indexed = index.store.source_hashes()
    assert urls["/aktuelles/baustelle.html"] not in indexed and urls[PDF_PATH] not in indexed
    assert all(url in indexed for path, url in urls.items() if path not in ("/aktuelles/baustelle.html", PDF_PATH))


def test_a_rebuilt_index_gets_every_page_in_full(site: FixtureSite, embedder, tmp_path: Path):
    config = website(site, start_urls=[site.url("/buergerservice/hundesteuer.html")], sitemaps=[],
                     path_prefixes=["/buergerservice/"])
    state = tmp_path / "state"
    first_index = build_index(Settings(data_dir=tmp_path / "eins"), embedder)
    first_index.ingestor(Settings(data_dir=tmp_path / "eins")).ingest_source(build_source(config, state))
    site.requests.clear()

    settings = Settings(data_dir=tmp_path / "zwei")
    index = build_index(settings, embedder)
    report = index.ingestor(settings).ingest_source(build_source(config, state))
    assert sorted(report.added) == [site.url(f"/buergerservice/{name}.html")
                                    for name in ("hundesteuer", "kfz-zulassung")]
    assert not report.unchanged and all(r.path.startswith(("/buergerservice/", "/robots.txt")) for r in site.requests)
    assert not any("if-none-match" in r.headers for r in site.requests)
    assert all(r.status != 304 for r in site.requests)


def test_page_budget_and_unreached_pages_are_kept(site: FixtureSite, tmp_path: Path, caplog):
    caplog.set_level(logging.INFO, logger="knowledge.crawler")
    source = WebsiteSource(website(site, max_pages=3), tmp_path / "crawl.sqlite3")
    items = list(source.items({}))
    assert len(site.page_requests()) == 3 and 1 <= len(items) <= 3
    assert any(re.fullmatch(r"crawl kreis: .*, [1-9]\d* left out \(page budget 3\)", r.message) for r in caplog.records)
    owned_but_unreached = site.url("/buergerservice/irgendwo.html")
    assert source.gone({owned_but_unreached: {"h"}}, {i.source_id for i in items}) == []


def test_a_huge_sitemap_is_streamed_and_cut_to_the_budget(site: FixtureSite, tmp_path: Path, caplog):
    caplog.set_level(logging.INFO, logger="knowledge.crawler")
    site.big_sitemap = 100_000
    config = website(site, start_urls=[], sitemaps=[site.url("/massen-sitemap.xml")], max_pages=5)
    items = list(WebsiteSource(config, tmp_path / "crawl.sqlite3").items({}))
    assert [type(i) for i in items] == [Document] * 5
    assert [r.path for r in site.page_requests()] == [f"/massen/seite-{i}.html" for i in range(5)]
    assert any("100000 URLs listed, 5 queued, 99995 left out" in r.message for r in caplog.records)


def test_crawl_delay_from_robots_txt_is_kept(site: FixtureSite, tmp_path: Path):
    site.crawl_delay = 0.3
    config = website(site, start_urls=[site.url("/impressum.html")], sitemaps=[], max_pages=3)
    list(WebsiteSource(config, tmp_path / "crawl.sqlite3").items({}))
    times = [r.at for r in site.requests]
    assert len(times) >= 3
    assert min(b - a for a, b in pairwise(times)) >= 0.28


def test_statuses_redirects_documents_and_what_is_gone(site: FixtureSite, tmp_path: Path):
    paths = ["/kaputt.html", "/gibt-es-nicht.html", PDF_PATH, "/formulare/gebuehren.docx", "/weiter-extern",
             "/kette/0"]
    source = WebsiteSource(website(site, start_urls=[site.url(p) for p in paths], sitemaps=[]),
                           tmp_path / "crawl.sqlite3")
    first = list(source.items({}))
    assert [type(i) for i in first] == [Failed, Failed, Document, Document, Failed]
    assert [i.doc_type for i in first if isinstance(i, Document)] == ["pdf", "docx"]
    assert first[2].last_modified == "2025-03-03" and first[2].url == site.url(PDF_PATH)
    assert "HTTP 500" in first[0].reason and "HTTP 404" in first[1].reason
    assert "too many redirects" in first[4].reason and first[4].source_id == site.url("/kette/0")
    assert "/kette/5" in site.paths() and "/kette/6" not in site.paths()  # 5 redirects followed
    assert site.paths(f"localhost:{site.port}") == []  # /weiter-extern redirects off the allowed hosts

    # As if the 404 and 500 pages had been indexed before, and a page no longer linked from anywhere.
    unreached, foreign = site.url("/buergerservice/verschwunden.html"), "https://andere.example/seite.html"
    indexed = {i.source_id: {"h"} for i in first[:4]} | {unreached: {"h"}, foreign: {"h"}, "/srv/kb/a.md": {"h"}}
    site.requests.clear()
    again = list(source.items(indexed))
    assert [type(i) for i in again] == [Failed, Failed, Unchanged, Document, Failed]
    conditional = [r.path for r in site.requests if "if-modified-since" in r.headers or "if-none-match" in r.headers]
    assert conditional == [PDF_PATH]  # the .docx was served without validators
    gone = source.gone(indexed, {i.source_id for i in again})
    assert sorted(gone) == sorted([site.url("/gibt-es-nicht.html"), unreached])  # not the 500, not foreign ids


def test_a_site_whose_robots_txt_fails_is_neither_crawled_nor_pruned(site: FixtureSite, tmp_path: Path):
    site.robots_status = 500
    source = WebsiteSource(website(site), tmp_path / "crawl.sqlite3")
    indexed = {site.url("/impressum.html"): {"h"}}
    assert list(source.items(indexed)) == []
    assert source.gone(indexed, set()) == []
    assert site.paths() == ["/robots.txt"]


def test_normalize_url():
    assert normalize_url("HTTP://Kreis.Example:80/a b/?x=1#oben") == "http://kreis.example/a%20b/?x=1"
    assert normalize_url("https://KREIS.example") == "https://kreis.example/"
    assert normalize_url("mailto:info@kreis.example") is None
    assert normalize_url("javascript:void(0)") is None
