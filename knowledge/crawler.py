"""Websites → documents: a small, polite crawler for administration sites.

It stays inside the configured hosts and path prefixes, obeys robots.txt (Crawl-delay included), pauses
between requests to a host, and re-crawls cheaply: ETag / Last-Modified and each page's links are kept in a
small sqlite file, so an unchanged page costs one 304 and still leads the crawl on to the pages it links.
Every problem of a single URL becomes a `Failed` item with a one-line reason; none ends the crawl.
"""

from __future__ import annotations

import io
import logging
import sqlite3
import time
import zlib
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import httpx
import lxml.html
from lxml import etree
from protego import Protego
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from knowledge.documents import Document
from knowledge.loaders import LoadError, docx_document, html_document, pdf_document
from knowledge.sources import Failed, Item, Unchanged, WebsiteConfig, restrict

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
ATTEMPTS = 3
"""Tries per request when the error is transient (timeout, connection reset, 429/502/503/504)."""
RETRY_STATUS = frozenset({429, 502, 503, 504})
ROBOTS_MAX_BYTES = 512_000  # RFC 9309: parse at least 500 KiB
SITEMAP_MAX_BYTES = 52_428_800  # the sitemaps.org limit for one (uncompressed) sitemap
MAX_SITEMAPS = 200
BODY_TIMEOUTS = 5
"""A body that trickles in for longer than this many timeouts counts as timed out (httpx times single reads)."""

DEFAULT_PORTS = {"http": 80, "https": 443}
PATH_SAFE = "/%:@!$&'()*+,;=-._~"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/download",
                           "application/force-download", "application/x-download"})
ACCEPT = f"text/html,application/xhtml+xml,application/pdf,{DOCX_TYPE};q=0.9,*/*;q=0.5"
SKIP_SCHEMES = ("mailto:", "tel:", "fax:", "sms:", "javascript:", "data:", "callto:")
SKIP_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".png", ".gif", ".svg", ".webp", ".ico", ".bmp", ".tif", ".tiff", ".css", ".js", ".json",
    ".zip", ".gz", ".tar", ".7z", ".rar", ".exe", ".msi", ".dmg", ".mp3", ".mp4", ".m4a", ".avi", ".mov", ".wmv",
    ".webm", ".ogg", ".wav", ".ics", ".vcf", ".doc", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".ods", ".rtf",
    ".xml", ".rss", ".atom", ".woff", ".woff2", ".ttf", ".eot",
})


def normalize_url(url: str) -> str | None:
    """The form a page is known by (its source id): lower-case scheme and host, no default port, no
    fragment, query kept, path and query percent-encoded. None for anything but an http(s) URL.
    (urllib rather than httpx.URL: a sitemap or a link-heavy site means 100,000 calls, ten times faster.)"""
    try:
        parts = urlsplit(url.strip())
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
        if scheme not in DEFAULT_PORTS or not host:
            return None
        host = host if host.isascii() else host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return None
    host = f"[{host}]" if ":" in host else host
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, quote(parts.path or "/", safe=PATH_SAFE),
                       quote(parts.query, safe=PATH_SAFE + "?"), ""))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _http_date(value: str | None) -> str | None:
    try:
        return parsedate_to_datetime(value).date().isoformat() if value else None
    except (TypeError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Scope:
    """Which URLs belong to a website source: allowed hosts (with or without port) and path prefixes."""

    hosts: frozenset[str]
    prefixes: tuple[str, ...]

    def __contains__(self, url: object) -> bool:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return False
        parts = urlsplit(url)
        return (parts.hostname in self.hosts or parts.netloc in self.hosts) \
            and any(parts.path.startswith(prefix) for prefix in self.prefixes)


# --- HTTP: one request at a time, throttled, size-capped, retried --------------------------------------


class _TooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"too large: over {limit:,} bytes")


class _TransientStatus(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(f"HTTP {status} {reason}".strip())
        self.status = status


class _RedirectError(Exception):
    pass


_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, _TransientStatus)


@dataclass
class _Response:
    url: str
    status: int
    reason: str
    headers: httpx.Headers
    charset: str | None = None
    body: bytes = b""
    redirect: bool = False
    location: str | None = None
    """Where a redirect points, normalised; None for a redirect to something that is not an http(s) URL."""


class _Fetcher:
    """HTTP for one crawl: robots.txt per host, the pause between requests to a host, retries, size caps."""

    def __init__(self, config: WebsiteConfig, client: httpx.Client):
        self._config = config
        self._client = client
        self._robots: dict[str, Protego] = {}
        self._delays: dict[str, float] = {}
        self._last_request: dict[str, float] = {}
        self.robots_unreachable: set[str] = set()
        """Hosts whose robots.txt could not be read: crawled not at all, so nothing of them counts as gone."""

    def allowed(self, url: str) -> bool:
        origin = _origin(url)
        if origin not in self._robots:
            self._robots[origin] = self._load_robots(origin)
        return self._robots[origin].can_fetch(url, self._config.user_agent)

    def _load_robots(self, origin: str) -> Protego:
        """RFC 9309: a missing robots.txt (4xx) allows everything; an unreachable one (5xx, network) nothing."""
        url = origin + "/robots.txt"
        try:
            response = self.follow(url, ROBOTS_MAX_BYTES)
        except Exception as exc:  # whatever went wrong, the host is off limits for this crawl
            log.warning("%s: unreachable (%s); not crawling %s this time", url, _describe(exc)[1], origin)
            self.robots_unreachable.add(origin)
            return Protego.parse("User-agent: *\nDisallow: /")
        if response.status >= 500:
            log.warning("%s: HTTP %d; not crawling %s this time", url, response.status, origin)
            self.robots_unreachable.add(origin)
            return Protego.parse("User-agent: *\nDisallow: /")
        robots = Protego.parse(response.body.decode("utf-8", errors="replace") if response.status == 200 else "")
        crawl_delay = robots.crawl_delay(self._config.user_agent) or 0.0
        self._delays[origin] = max(self._config.delay_seconds, float(crawl_delay))
        if crawl_delay > self._config.delay_seconds:
            log.info("%s asks for a crawl delay of %ss", url, crawl_delay)
        return robots

    def follow(self, url: str, limit: int) -> _Response:
        """GET that follows redirects (for robots.txt and sitemaps, which may move between hosts)."""
        hops = [url]
        response = self.get(url, {}, limit)
        while response.redirect:
            if response.location is None or response.location in hops or len(hops) > MAX_REDIRECTS:
                raise _RedirectError(f"redirect loop or too many redirects ({' → '.join(hops)})")
            hops.append(response.location)
            response = self.get(response.location, {}, limit)
        return response

    def get(self, url: str, headers: Mapping[str, str], limit: int) -> _Response:
        """One request (no redirect followed); transient failures are retried with a short backoff."""
        retrying = Retrying(
            stop=stop_after_attempt(ATTEMPTS), wait=wait_exponential(multiplier=0.5, max=4),
            retry=retry_if_exception_type(_TRANSIENT), reraise=True,
            before_sleep=lambda state: log.info("%s: %s, retrying in %.1fs", url,
                                                _describe(state.outcome.exception())[1],
                                                state.next_action.sleep if state.next_action else 0))
        return retrying(self._get_once, url, headers, limit)

    def _get_once(self, url: str, headers: Mapping[str, str], limit: int) -> _Response:
        origin = _origin(url)
        pause = self._delays.get(origin, self._config.delay_seconds)
        wait = self._last_request.get(origin, float("-inf")) + pause - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            with self._client.stream("GET", url, headers=dict(headers)) as response:
                if response.status_code in RETRY_STATUS:
                    raise _TransientStatus(response.status_code, response.reason_phrase)
                result = _Response(url, response.status_code, response.reason_phrase, response.headers,
                                   charset=response.charset_encoding)
                if response.has_redirect_location:
                    result.redirect = True
                    result.location = normalize_url(urljoin(str(response.url), response.headers["location"]))
                elif response.status_code == 200:
                    result.body = self._read(response, limit)
                return result
        finally:
            self._last_request[origin] = time.monotonic()

    def _read(self, response: httpx.Response, limit: int) -> bytes:
        """Stream the body, aborting as soon as it exceeds `limit` (decoded bytes, so gzip bombs stop too)."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _TooLarge(limit)
        deadline = time.monotonic() + BODY_TIMEOUTS * self._config.timeout_seconds
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise _TooLarge(limit)
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("the body arrived too slowly")
            chunks.append(chunk)
        return b"".join(chunks)


def _describe(exc: BaseException | None) -> tuple[str, str]:
    """(kind for the summary, reason for the log) of a failed request."""
    if isinstance(exc, _TooLarge):
        return "too large", str(exc)
    if isinstance(exc, _TransientStatus):
        return str(exc.status), str(exc)
    if isinstance(exc, _RedirectError):
        return "redirect", str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.HTTPError):
        return "network", f"{type(exc).__name__}: {exc}"
    return "error", f"unexpected {type(exc).__name__}: {exc}"


# --- state between crawls -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Remembered:
    etag: str | None
    last_modified: str | None
    links: list[str]


class _State:
    """Per URL: the validators for conditional requests and the links the page had (or where it redirected),
    so that a 304, or a page that fails this time, still leads the crawl on."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open(path)
        except sqlite3.DatabaseError as exc:  # it is only a cache: start afresh rather than stop
            log.warning("%s: unreadable (%s); starting without remembered ETags", path, exc)
            path.unlink(missing_ok=True)
            self._db = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("CREATE TABLE IF NOT EXISTS pages (url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, "
                   "links TEXT NOT NULL DEFAULT '')")
        return db

    def get(self, url: str) -> _Remembered | None:
        row = self._db.execute("SELECT etag, last_modified, links FROM pages WHERE url = ?", (url,)).fetchone()
        return _Remembered(row[0], row[1], row[2].split("\n") if row[2] else []) if row else None

    def put(self, url: str, etag: str | None, last_modified: str | None, links: list[str]) -> None:
        self._db.execute("INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?)", (url, etag, last_modified,
                                                                              "\n".join(links)))

    def forget(self, url: str) -> None:
        self._db.execute("DELETE FROM pages WHERE url = ?", (url,))

    def close(self) -> None:
        self._db.close()


# --- pages → documents and links ----------------------------------------------------------------------


def _decode(body: bytes, charset: str | None) -> str:
    for encoding in filter(None, (charset, "utf-8-sig")):
        try:
            return body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            pass
    return body.decode("cp1252", errors="replace")  # older administration pages; decodes every byte


def _kind(content_type: str, url: str, body: bytes) -> str | None:
    mime = content_type.split(";")[0].strip().lower()
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    if mime in HTML_TYPES:
        return "html"
    if mime in PDF_TYPES or body.startswith(b"%PDF-") or (suffix == ".pdf" and mime in GENERIC_TYPES):
        return "pdf"
    if mime == DOCX_TYPE or (suffix == ".docx" and mime in GENERIC_TYPES):
        return "docx"
    if mime in GENERIC_TYPES and body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        return "html"
    return None


@dataclass(frozen=True)
class _PageLinks:
    links: list[str]
    index: bool = True


def _page_links(html: str, body: bytes, url: str) -> _PageLinks:
    """Links of a page, resolved against its URL or <base href>; honours <meta name="robots"> and
    rel="nofollow"."""
    try:
        try:
            tree = lxml.html.document_fromstring(html)
        except ValueError:  # lxml refuses str input that carries an XML encoding declaration
            tree = lxml.html.document_fromstring(body)
    except (ValueError, etree.LxmlError):
        return _PageLinks([])
    directives = {d.strip().lower() for content in tree.xpath(
        "//meta[translate(@name, 'ROBOTS', 'robots')='robots']/@content") for d in str(content).split(",")}
    base = url
    for href in tree.xpath("//base/@href")[:1]:
        base = urljoin(url, str(href).strip())
    links: dict[str, None] = {}
    if not directives & {"nofollow", "none"}:
        for anchor in tree.xpath("//a[@href] | //area[@href]"):
            href = (anchor.get("href") or "").strip()
            if not href or href.startswith("#") or href.lower().startswith(SKIP_SCHEMES) \
                    or "nofollow" in (anchor.get("rel") or "").lower().split():
                continue
            target = normalize_url(urljoin(base, href))
            if target:
                links[target] = None
    return _PageLinks(list(links), index=not directives & {"noindex", "none"})


def _sitemap_entries(body: bytes, where: str) -> Iterator[tuple[bool, str]]:
    """(is a nested sitemap, URL) for each <loc>, parsed incrementally: a sitemap of 100,000 URLs is never
    held as a tree."""
    if body[:2] == b"\x1f\x8b":  # .xml.gz served as a file, not as Content-Encoding
        inflater = zlib.decompressobj(wbits=31)
        body = inflater.decompress(body, SITEMAP_MAX_BYTES)
        if inflater.unconsumed_tail:
            log.warning("%s: over %s bytes uncompressed; reading only the beginning", where, f"{SITEMAP_MAX_BYTES:,}")
    try:
        for _, element in etree.iterparse(io.BytesIO(body), events=("end",), resolve_entities=False,
                                          no_network=True, huge_tree=False):
            name = element.tag.rpartition("}")[2] if isinstance(element.tag, str) else ""
            parent = element.getparent()
            if name == "loc" and element.text and parent is not None:
                kind = parent.tag.rpartition("}")[2]
                if kind in ("url", "sitemap"):  # not <image:loc> and the like
                    yield kind == "sitemap", element.text.strip()
            elif name in ("url", "sitemap") and parent is not None:
                element.clear()
                while element.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        log.warning("%s: not a valid sitemap, stopped reading (%s)", where, exc)


# --- the crawl ----------------------------------------------------------------------------------------


@dataclass
class _Crawl:
    """One run over a website: the frontier, what was requested, and the counts for the summary."""

    config: WebsiteConfig
    scope: Scope
    indexed: Mapping[str, set[str]]
    fetcher: _Fetcher
    state: _State
    queue: deque[str] = field(default_factory=deque)
    queued: set[str] = field(default_factory=set)
    requested: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    """404/410 (and pages that now say noindex): certainly gone."""
    reached: set[str] = field(default_factory=set)
    complete: bool = False
    pages: int = 0
    documents: int = 0
    unchanged: int = 0
    left_out: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def run(self) -> Iterator[Item]:
        started = time.monotonic()
        try:
            for url in self.config.start_urls:
                self._enqueue(url)
            self._read_sitemaps()
            while self.queue:
                if self.pages >= self.config.max_pages:
                    self.left_out = sum(1 for url in self.queue if url not in self.requested)
                    break
                yield from self._page(self.queue.popleft())
            # Unreached pages count as gone only after a crawl that saw the whole site: within the page budget,
            # robots.txt readable, and at least one page answered (a site that is down must not be pruned).
            self.complete = self.left_out == 0 and not self.fetcher.robots_unreachable \
                and self.documents + self.unchanged > 0
        finally:
            failed = ", ".join(f"{kind}: {n}" for kind, n in sorted(self.failed.items()))
            log.info("crawl %s: %d pages requested in %.0fs; %d documents, %d unchanged (304), %d failed%s, "
                     "%d skipped by robots.txt, %d other skipped, %d left out (page budget %d)",
                     self.config.name, self.pages, time.monotonic() - started, self.documents, self.unchanged,
                     sum(self.failed.values()), f" ({failed})" if failed else "", self.skipped["robots.txt"],
                     sum(self.skipped.values()) - self.skipped["robots.txt"], self.left_out, self.config.max_pages)

    def _candidate(self, url: str) -> str | None:
        normal = normalize_url(url)
        if normal is None or normal in self.queued or normal not in self.scope \
                or PurePosixPath(urlsplit(normal).path).suffix.lower() in SKIP_SUFFIXES:
            return None
        return normal

    def _enqueue(self, url: str) -> None:
        normal = self._candidate(url)
        if normal:
            self.queued.add(normal)
            self.queue.append(normal)

    def _read_sitemaps(self) -> None:
        """Queue sitemap URLs up to the page budget; nested sitemap indexes are followed (each once)."""
        pending = deque(filter(None, map(normalize_url, self.config.sitemaps)))
        done: set[str] = set()
        while pending and len(done) < MAX_SITEMAPS:
            sitemap = pending.popleft()
            if sitemap in done:
                continue
            done.add(sitemap)
            if not self.fetcher.allowed(sitemap):
                log.info("%s: disallowed by robots.txt", sitemap)
                continue
            try:
                response = self.fetcher.follow(sitemap, SITEMAP_MAX_BYTES)
            except Exception as exc:  # a broken sitemap loses its URLs, not the crawl
                log.warning("%s: sitemap not read (%s)", sitemap, _describe(exc)[1])
                continue
            if response.status != 200:
                log.warning("%s: sitemap not read (HTTP %d %s)", sitemap, response.status, response.reason)
                continue
            listed = taken = left_out = nested_sitemaps = 0
            for nested, loc in _sitemap_entries(response.body, sitemap):
                if nested:
                    target = normalize_url(loc)
                    if target and (urlsplit(target).hostname in self.scope.hosts
                                   or urlsplit(target).netloc in self.scope.hosts):
                        pending.append(target)
                        nested_sitemaps += 1
                    continue
                listed += 1
                if len(self.queue) >= self.config.max_pages:
                    left_out += 1
                    continue
                normal = self._candidate(loc)
                if normal is None:
                    continue
                self.queued.add(normal)
                self.queue.append(normal)
                taken += 1
            if nested_sitemaps:
                log.info("%s: sitemap index of %d sitemaps", sitemap, nested_sitemaps)
            if listed or not nested_sitemaps:
                log.info("%s: %d URLs listed, %d queued, %d left out (page budget %d)", sitemap, listed, taken,
                         left_out, self.config.max_pages)

    def _fail(self, url: str, kind: str, reason: str) -> Failed:
        """The Ingestor logs every Failed as a warning; here it only counts."""
        self.failed[kind] += 1
        self.reached.add(url)
        return Failed(url, f"{url}: {reason}")

    def _follow_remembered(self, remembered: _Remembered | None) -> None:
        """A page that cannot be read this time (304 included) still leads on to what it linked last time,
        so that its pages are neither skipped nor pruned; a page that is gone (404/410) does not."""
        for link in remembered.links if remembered else []:
            self._enqueue(link)

    def _page(self, url: str) -> Iterator[Item]:
        """Request `url`, following redirects hop by hop (each hop checked against scope and robots.txt)."""
        chain: list[str] = []
        current = url
        while True:
            if current in self.requested:  # reached by another path already
                return
            if current not in self.scope:
                self.skipped["out of scope"] += 1
                log.info("%s: redirects outside the crawl scope to %s; skipped", url, current)
                return
            if not self.fetcher.allowed(current):
                self.skipped["robots.txt"] += 1
                log.info("%s: disallowed by robots.txt; skipped", current)
                return
            self.requested.add(current)
            if not chain:
                self.pages += 1
            chain.append(current)
            remembered = self.state.get(current)
            headers = {}
            if remembered and current in self.indexed:  # a rebuilt index gets every page in full
                if remembered.etag:
                    headers["If-None-Match"] = remembered.etag
                if remembered.last_modified:
                    headers["If-Modified-Since"] = remembered.last_modified
            try:
                response = self.fetcher.get(current, headers, self.config.max_bytes)
            except Exception as exc:  # nothing that one URL does may end the crawl
                self._follow_remembered(remembered)
                yield self._fail(current, *_describe(exc))
                return
            if not response.redirect:
                break
            target = response.location
            if target is None:
                yield self._fail(url, "redirect", f"redirect to an unusable location "
                                                  f"{response.headers.get('location')!r}")
                return
            self.state.put(current, None, None, [target])
            if target in chain:
                yield self._fail(url, "redirect", f"redirect loop ({' → '.join([*chain, target])})")
                return
            if len(chain) > MAX_REDIRECTS:
                yield self._fail(url, "redirect", f"too many redirects (more than {MAX_REDIRECTS})")
                return
            current = target
        yield from self._response(response, remembered)

    def _response(self, response: _Response, remembered: _Remembered | None) -> Iterator[Item]:
        url, status = response.url, response.status
        if status == 304 and url in self.indexed:
            self.unchanged += 1
            self.reached.add(url)
            self._follow_remembered(remembered)
            yield Unchanged(url)
            return
        if status in (404, 410):
            self.missing.add(url)
            self.state.forget(url)
            yield self._fail(url, str(status), f"HTTP {status} {response.reason}")
            return
        if status != 200:
            self._follow_remembered(remembered)
            yield self._fail(url, str(status), f"HTTP {status} {response.reason}")
            return
        kind = _kind(response.headers.get("content-type", ""), url, response.body)
        if kind is None:
            self.skipped["not a document"] += 1
            log.info("%s: skipped, %r is no supported document type", url, response.headers.get("content-type"))
            return
        last_modified = _http_date(response.headers.get("last-modified"))
        links: list[str] = []
        try:
            if kind == "html":
                html = _decode(response.body, response.charset)
                page = _page_links(html, response.body, url)
                links = page.links
                for link in links:
                    self._enqueue(link)
                if not page.index:
                    self.missing.add(url)
                    self.skipped["noindex"] += 1
                    log.info("%s: marked noindex; not indexed", url)
                    self.state.put(url, None, None, links)
                    return
                document: Document = html_document(html, url, url=url, last_modified=last_modified)
            elif kind == "pdf":
                document = pdf_document(response.body, url, url=url, last_modified=last_modified)
            else:
                document = docx_document(response.body, url, url=url, last_modified=last_modified)
        except LoadError as exc:
            item: Item = self._fail(url, "unreadable", str(exc).removeprefix(f"{url}: "))
        except Exception as exc:  # an extractor tripping over odd input must not end the crawl
            item = self._fail(url, "error", f"unexpected {type(exc).__name__}: {exc}")
        else:
            item = restrict(document, self.config.visibility)
            self.documents += 1
            self.reached.add(url)
        yield item
        # Remembered only once the consumer has taken the item: should indexing fail, the next crawl fetches
        # the page in full instead of trusting a 304.
        self.state.put(url, response.headers.get("etag"), response.headers.get("last-modified"), links)


class WebsiteSource:
    """A website crawled from start URLs and sitemaps; see the module docstring."""

    def __init__(self, config: WebsiteConfig, state_path: Path):
        self.name = config.name
        self._config = config
        self._state_path = state_path
        hosts = config.allowed_hosts or [urlsplit(url).hostname or "" for url in
                                         (*config.start_urls, *config.sitemaps)]
        self.scope = Scope(frozenset(h.strip().lower() for h in hosts if h.strip()), tuple(config.path_prefixes))
        self._last: _Crawl | None = None

    def estimate(self) -> int | None:
        return None

    def items(self, indexed: Mapping[str, set[str]]) -> Iterator[Item]:
        state = _State(self._state_path)
        headers = {"User-Agent": self._config.user_agent, "Accept": ACCEPT}
        try:
            with httpx.Client(headers=headers, timeout=self._config.timeout_seconds,
                              follow_redirects=False) as client:
                self._last = _Crawl(self._config, self.scope, indexed, _Fetcher(self._config, client), state)
                yield from self._last.run()
        finally:
            state.close()

    def gone(self, indexed: Mapping[str, set[str]], seen: set[str]) -> list[str]:
        """Owned pages that answered 404/410; after a crawl that ran to its end (page budget not reached),
        also owned pages it never reached. Pages that failed otherwise (5xx, timeouts) count as reached."""
        crawl = self._last
        if crawl is None:
            return []
        reached = crawl.reached | seen
        return [source_id for source_id in indexed if source_id in self.scope
                and (source_id in crawl.missing or (crawl.complete and source_id not in reached))]
