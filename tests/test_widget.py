"""The citizen chat widget in a real browser: Playwright drives Debian's headless Chromium against a real
SiWi server on 127.0.0.1 (real embedding model, real Chroma index, the small packaged LLM). One server for
the module; it is stopped and started again on the same port for the reconnect test.

Screenshots of the states at 375×667 go to tests/artifacts/ (not committed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

import widget
from bot.app import create_app
from bot.services import build_index, build_pipeline
from siwi.settings import Settings
from tests.conftest import FIXTURES, MODELS_DIR, REPO, SMALL_MODEL, LiveServer, free_port

try:
    import playwright.sync_api as playwright_api
except ImportError:  # a developer's venv without the browser tools skips; CI must not pass without them
    if os.environ.get("CI"):
        raise
    pytest.skip("playwright is missing: run `make test`", allow_module_level=True)
expect = playwright_api.expect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = REPO / "widget" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "tests" / "artifacts"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
ANSWER_TIMEOUT = 240_000  # ms: the small model on two busy cores

# Planted in a temporary copy of the test knowledge base (not in tests/fixtures/kb, which other tests count):
# markup in the title and in the text that would run if the widget ever treated it as HTML.
PAYLOAD_DOCUMENT = """\
---
title: Sperrmüll abholen <img src=x onerror=window.__siwiXss=1> <script>window.__siwiXss=2</script>
url: https://www.kreis-lindenau.example/abfall/sperrmuell
last_modified: 2026-01-12
---
# Sperrmüll abholen

## Kosten
Die Abholung von Sperrmüll kostet 25 Euro pro Termin <img src=x onerror=window.__siwiXss=3>.

## Anmeldung
Sperrmüll melden Sie online oder telefonisch beim Abfallwirtschaftsbetrieb an <script>window.__siwiXss=4</script>.
"""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(what: str) -> None:
    """Without a browser or a built widget the browser tests cannot run: a failure in CI, a skip elsewhere."""
    if in_ci():
        pytest.fail(f"{what} (CI=true: the browser tests must run)")
    pytest.skip(what)


# --- the server ------------------------------------------------------------------------------------------

class SerialModel:
    """The shared model, one generation at a time: after a server restart the old server's cancelled
    generation must have finished before the new server uses the same llama.cpp context."""

    def __init__(self, model) -> None:
        self._model = model
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    def stream(self, *args, **kwargs):
        with self._lock:
            yield from self._model.stream(*args, **kwargs)


class Site:
    """`siwi serve` in a thread, on a port that stays the same when it is stopped and started again."""

    def __init__(self, settings: Settings, index, pipeline) -> None:
        self.settings, self.index, self.pipeline = settings, index, pipeline
        self.port = free_port()
        self._live: LiveServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat"

    @property
    def feedback_file(self) -> Path:
        return self.settings.data_dir / "feedback.jsonl"

    def start(self) -> None:
        live = LiveServer(create_app(self.settings, self.index, self.pipeline))
        live.port = self.port
        live._server.config.port = self.port
        self._live = live.__enter__()

    def stop(self) -> None:
        if self._live:
            self._live.__exit__(None, None, None)
            self._live = None


@pytest.fixture(scope="module")
def site(tmp_path_factory, embedder, small_model) -> Iterator[Site]:
    kb = tmp_path_factory.mktemp("kb")
    for path in (FIXTURES / "kb").iterdir():
        shutil.copy(path, kb / path.name)
    (kb / "sperrmuell.md").write_text(PAYLOAD_DOCUMENT, encoding="utf-8")
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), models_dir=MODELS_DIR, llm_model=SMALL_MODEL,
                        llm_max_tokens=80)
    index = build_index(settings, embedder)
    index.ingestor(settings).ingest([kb])
    site = Site(settings, index, build_pipeline(settings, index, SerialModel(small_model)))
    site.start()
    yield site
    site.stop()


# --- the browser -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        missing(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    if not widget.BUNDLE.is_file():
        missing(f"{widget.BUNDLE} is missing: `make setup` builds the widget (cd widget && npm ci && npm run build)")
    if not AXE.is_file():
        missing(f"{AXE} is missing: `make setup` installs the widget's npm packages")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser) -> Iterator[Callable[..., object]]:
    contexts = []

    def make(**options):
        context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, "locale": "de-DE", **options})
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.dialogs = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        return page

    yield make
    for context in contexts:
        context.close()


class SocketProxy:
    """Routes the page's chat WebSocket through Playwright to the real server, records the frames both ways
    and, while `hold` is set, holds back `final` frames: the test can look at an answer while it streams."""

    def __init__(self, page) -> None:
        self.sent: list[dict] = []
        self.received: list[dict] = []
        self.hold = False
        self._held: list[tuple[object, str]] = []
        page.route_web_socket(re.compile(r"/ws/chat"), self._route)

    def _route(self, route) -> None:
        server = route.connect_to_server()

        def to_server(message: str) -> None:
            self.sent.append(json.loads(message))
            server.send(message)

        def to_page(message: str) -> None:
            frame = json.loads(message)
            self.received.append(frame)
            if frame["type"] == "final" and self.hold:
                self._held.append((route, message))
            else:
                route.send(message)

        route.on_message(to_server)
        server.on_message(to_page)

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def release(self) -> None:
        self.hold = False
        for route, message in self._held:
            route.send(message)
        self._held.clear()

    def of_type(self, kind: str) -> list[dict]:
        return [f for f in self.received if f["type"] == kind]


def wait_until(page, condition: Callable[[], bool], what: str, timeout: float = ANSWER_TIMEOUT / 1000) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        page.wait_for_timeout(100)


def widget_focus(page) -> dict:
    """Where the keyboard focus is: on the widget (and what inside its shadow root) or elsewhere."""
    return page.evaluate("""() => {
        const host = document.querySelector('siwi-chat');
        const inner = host && document.activeElement === host ? host.shadowRoot.activeElement : null;
        return {inWidget: !!inner, inDialog: !!(inner && inner.closest('[role=dialog]')),
                launcher: !!(inner && inner.classList.contains('launcher')),
                tag: inner ? inner.tagName.toLowerCase() : null,
                outline: inner ? getComputedStyle(inner).outlineStyle : null};
    }""")


def axe_violations(page) -> list[dict]:
    if not page.evaluate("typeof window.axe === 'object'"):
        # Evaluated by the browser's DevTools protocol, which the page's Content-Security-Policy does not
        # govern: the pages under test allow no inline script, and keep that policy during the audit.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    return page.evaluate("""async (tags) => {
        const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary}))}));
    }""", WCAG_21_AA)


def assert_accessible(page, state: str) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe, {state}: " + json.dumps(violations, indent=1, ensure_ascii=False)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def as_shown(markdown: str) -> str:
    """The text of rendered Markdown, as far as the model writes it: list bullets and ** go, spaces collapse."""
    text = re.sub(r"(?m)^\s*(?:[-*•]|\d{1,2}[.)])\s+", "", markdown).replace("**", "")
    return re.sub(r"\s+", " ", text).strip()


def ask(page, text: str) -> None:
    box = page.locator("siwi-chat .composer textarea")
    box.fill(text)
    box.press("Enter")


def answers(page):
    return page.locator("siwi-chat li.msg.bot")


def finished_answers(page):
    return page.locator("siwi-chat li.msg.bot:not([aria-busy])")


def storage(page, site: Site) -> dict:
    raw = page.evaluate("(key) => sessionStorage.getItem(key)", f"siwi:v1:{site.ws}")
    return json.loads(raw) if raw else {}


def no_script_ran(page) -> None:
    assert page.evaluate("window.__siwiXss") is None, "a payload ran"
    assert page.dialogs == [], page.dialogs
    # The widget makes no images and no scripts; any in its shadow root came from content.
    assert page.locator("siwi-chat img, siwi-chat script, siwi-chat iframe").count() == 0
    assert page.errors == [], page.errors


# --- serving ---------------------------------------------------------------------------------------------

def test_the_widget_and_the_demo_page_are_served(site, monkeypatch, tmp_path):
    script = httpx.get(f"{site.url}/widget/siwi.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "SiWi chat widget" in script.text[:200]
    # The widget builds DOM nodes; it never turns a string into HTML.
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(", script.text)
    page = httpx.get(f"{site.url}/")
    assert page.status_code == 200
    assert '<script src="/widget/siwi.js"' in page.text and "Kreis Lindenau" in page.text
    assert httpx.get(f"{site.url}/static/datenschutz.html").status_code == 200
    # Not built: a 404 that says how to build it, as JavaScript (a page that embeds it logs the reason).
    monkeypatch.setattr(widget, "BUNDLE", tmp_path / "dist" / "siwi.js")
    missing_bundle = httpx.get(f"{site.url}/widget/siwi.js")
    assert missing_bundle.status_code == 404
    assert "npm run build" in missing_bundle.text and missing_bundle.text.startswith("//")


# --- feedback over the protocol --------------------------------------------------------------------------

def receive(ws, *types: str) -> dict:
    """The next frame of one of these types (any type if none is given); others are skipped, as clients
    skip frames they do not know."""
    while True:
        frame = json.loads(ws.recv(timeout=60))
        if not types or frame["type"] in types:
            return frame


def test_feedback_is_validated_stored_and_acknowledged(site):
    with connect(site.ws) as ws:
        conversation = receive(ws)["conversation_id"]
        ws.send(json.dumps({"v": 1, "type": "user_message", "text": "Ich möchte mit einem Menschen sprechen.",
                            "client_message_id": "q-1"}))
        assert receive(ws, "started", "final")["type"] == "started"
        answer = receive(ws, "final", "error")["answer"]

        bad = [{"rating": "meh"}, {"rating": "up", "comment": "x" * 1001}, {"rating": "up", "client_message_id": ""},
               {"rating": "up", "stars": 5}, {"rating": "up", "conversation_id": "../etc"}]
        for fields in bad:
            ws.send(json.dumps({"v": 1, "type": "feedback", "client_message_id": "q-1", **fields}))
            error = receive(ws, "error", "feedback_ack")
            assert error["type"] == "error" and error["code"] == "invalid_message", (fields, error)
        assert not site.feedback_file.exists() or "q-1" not in site.feedback_file.read_text()

        ws.send(json.dumps({"v": 1, "type": "feedback", "client_message_id": "q-1", "rating": "down"}))
        assert receive(ws, "error", "feedback_ack") == {"v": 1, "type": "feedback_ack", "client_message_id": "q-1"}
        ws.send(json.dumps({"v": 1, "type": "feedback", "client_message_id": "q-1", "rating": "down",
                            "conversation_id": conversation, "comment": "  Bitte mit Öffnungszeiten.  "}))
        assert receive(ws, "error", "feedback_ack")["type"] == "feedback_ack"
        ws.send(json.dumps({"v": 1, "type": "ping"}))
        assert receive(ws, "error", "pong")["type"] == "pong"

    lines = [json.loads(line) for line in site.feedback_file.read_text(encoding="utf-8").splitlines()]
    mine = [line for line in lines if line["client_message_id"] == "q-1"]
    assert len(mine) == 2
    first, second = mine
    assert first["rating"] == "down" and first["comment"] is None and first["conversation_id"] == conversation
    assert second["comment"] == "Bitte mit Öffnungszeiten."
    assert second["answer"]["text"] == answer["text"] and second["answer"]["outcome"] == "handoff"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", second["time"])
    # Comments and transcripts may hold personal data: readable by SiWi's user only (issue 16).
    assert stat.S_IMODE(site.feedback_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((site.settings.data_dir / "siwi.db").stat().st_mode) == 0o600


# --- the browser tests -----------------------------------------------------------------------------------

def test_answer_streams_with_citation_links_snippets_and_feedback(site, new_page):
    page = new_page()
    proxy = SocketProxy(page)
    page.context.route("https://www.kreis-lindenau.example/**",
                       lambda route: route.fulfill(content_type="text/html", body="<title>Personalausweis</title>"))
    page.goto(f"{site.url}/")
    page.get_by_role("button", name="Frage stellen").click()
    dialog = page.get_by_role("dialog", name="SiWi – digitaler Assistent")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Sie chatten mit einem KI-Assistenten")
    expect(dialog.get_by_role("link", name=re.compile("Hinweise zum Datenschutz"))).to_have_attribute(
        "href", f"{site.url}/static/datenschutz.html")

    proxy.hold = True
    ask(page, "Was kostet der Personalausweis für Personen ab 24 Jahren?")
    wait_until(page, lambda: proxy.holding, "the final answer")
    # While the answer streams, the checked deltas are on screen, shown as final text.
    streamed = "".join(d["text"] for d in proxy.of_type("delta"))
    assert streamed and "37" in streamed
    answer = answers(page).last
    expect(answer).to_have_attribute("aria-busy", "true")
    expect(answer.locator(".content")).to_have_text(as_shown(streamed))
    proxy.release()

    expect(answer).not_to_have_attribute("aria-busy", "true", timeout=10_000)
    final = proxy.of_type("final")[-1]["answer"]
    assert final["outcome"] == "answered" and final["text"] == streamed
    expect(answer.locator(".content")).to_have_attribute("lang", "de")
    expect(page.locator("siwi-chat li.msg.user .bubble").last).to_have_attribute("lang", "de")
    # The live region announces the whole answer once, without the markers.
    live = page.locator("siwi-chat [aria-live=polite]")
    expect(live).to_have_text(re.compile(r"^Antwort von SiWi: .*37"))
    assert "[" not in live.inner_text()

    # Numbered sources with their titles, linked; the supporting snippet on focus and on tap.
    fee = next(c for c in final["citations"] if c["title"] == "Personalausweis beantragen")
    source = answer.locator(f".source[data-number='{fee['number']}']")
    link = source.get_by_role("link", name=re.compile("Personalausweis beantragen"))
    expect(link).to_have_attribute("href", "https://www.kreis-lindenau.example/leistungen/personalausweis")
    expect(link).to_have_attribute("target", "_blank")
    snippet = source.locator(".snippet")
    expect(snippet).to_be_hidden()
    link.focus()
    expect(snippet).to_be_visible()
    expect(snippet).to_contain_text(re.sub(r"^\s*[-*•]\s+", "", fee["snippet"]))  # a list item's bullet goes
    assert "37" in fee["snippet"]
    page.locator("siwi-chat .composer textarea").focus()
    expect(snippet).to_be_hidden()
    marker = answer.get_by_role("button", name=f"Quelle {fee['number']}: Personalausweis beantragen")
    marker.first.click()
    expect(snippet).to_be_visible()
    expect(source.get_by_role("button", name="Beleg ausblenden")).to_have_attribute("aria-expanded", "true")
    with page.expect_popup() as popup:
        link.click()
    assert popup.value.url == "https://www.kreis-lindenau.example/leistungen/personalausweis"
    popup.value.close()
    screenshot(page, "desktop-answered.png")

    # Feedback: thumbs down, then a comment; both acknowledged and stored with the answer they rate.
    answer.get_by_role("button", name="Nein, nicht hilfreich").click()
    expect(answer.get_by_role("button", name="Nein, nicht hilfreich")).to_have_attribute("aria-pressed", "true")
    expect(answer.locator(".feedback-status")).to_have_text("Danke für Ihre Rückmeldung.")
    answer.get_by_role("button", name="Kommentar hinzufügen").click()
    answer.get_by_label("Ihr Kommentar").fill("Die Gebühr für Kinder fehlt.")
    answer.get_by_role("button", name="Kommentar senden").click()
    expect(answer.locator(".feedback-status")).to_have_text("Danke, Ihr Kommentar ist angekommen.")
    record = json.loads(site.feedback_file.read_text(encoding="utf-8").splitlines()[-1])
    question_id = proxy.sent[0]["client_message_id"]
    assert record["client_message_id"] == question_id and record["rating"] == "down"
    assert record["comment"] == "Die Gebühr für Kinder fehlt."
    assert record["conversation_id"] == storage(page, site)["conversationId"]
    assert record["answer"]["text"] == final["text"]

    # The conversation follows the citizen to another page of the site, and nothing is asked twice.
    page.get_by_role("button", name="Chat schließen").click()
    page.get_by_role("link", name="Datenschutz").first.click()
    page.wait_for_url("**/datenschutz.html")
    page.get_by_role("button", name="Frage stellen").click()
    expect(answers(page)).to_have_count(1)
    expect(answers(page).first.locator(".sources .source")).to_have_count(len(final["citations"]))
    expect(answers(page).first.get_by_role("button", name="Nein, nicht hilfreich")).to_have_attribute(
        "aria-pressed", "true")
    page.wait_for_timeout(500)
    assert [m["type"] for m in proxy.sent if m["type"] != "ping"] == ["user_message", "feedback", "feedback"]
    assert len({f["conversation_id"] for f in proxy.of_type("ready")}) == 1
    no_script_ran(page)


def test_keyboard_only(site, new_page):
    page = new_page()
    page.goto(f"{site.url}/")
    for _ in range(40):
        page.keyboard.press("Tab")
        if widget_focus(page)["launcher"]:
            break
    focus = widget_focus(page)
    assert focus["launcher"], "Tab never reached the chat launcher"
    assert focus["outline"] == "solid", "the focused launcher shows no focus outline"

    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    assert widget_focus(page)["tag"] == "textarea"
    page.keyboard.type("Ich möchte bitte mit einem Menschen sprechen.")
    page.keyboard.press("Enter")
    handoff = page.locator("siwi-chat [data-handoff=contact]")
    expect(handoff).to_be_visible(timeout=30_000)
    expect(handoff.get_by_role("link", name=re.compile("info@kreis-lindenau.example"))).to_have_attribute(
        "href", "mailto:info@kreis-lindenau.example")
    assert_accessible(page, "handoff, desktop")

    # Focus stays in the open window, forwards and backwards.
    seen = set()
    for key in ["Tab"] * 20 + ["Shift+Tab"] * 20:
        page.keyboard.press(key)
        focus = widget_focus(page)
        assert focus["inDialog"], f"{key} left the chat window"
        seen.add(focus["tag"])
    assert {"button", "textarea", "a"} <= seen

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert widget_focus(page)["launcher"], "focus did not return to the launcher"
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    expect(page.locator("siwi-chat [data-handoff=contact]")).to_have_count(1)
    page.keyboard.press("Escape")
    assert widget_focus(page)["launcher"]
    no_script_ran(page)


def test_mobile_states_screenshots_and_accessibility(site, new_page):
    page = new_page(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True, device_scale_factor=2)
    proxy = SocketProxy(page)
    page.goto(f"{site.url}/")
    launcher = page.get_by_role("button", name="Frage stellen")
    expect(launcher).to_be_visible()
    screenshot(page, "mobile-1-closed.png")
    assert_accessible(page, "closed")

    launcher.tap()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    page.wait_for_timeout(300)  # the opening animation
    box = dialog.bounding_box()
    assert box and (box["x"], box["y"], round(box["width"]), round(box["height"])) == (0, 0, 375, 667), \
        "the chat window fills a phone screen"
    screenshot(page, "mobile-2-open.png")
    assert_accessible(page, "open")

    proxy.hold = True
    ask(page, "Welche Unterlagen brauche ich für den Personalausweis?")
    wait_until(page, lambda: proxy.holding, "the final answer")
    expect(answers(page).last.locator(".content")).not_to_be_empty()
    screenshot(page, "mobile-3-answering.png")
    assert_accessible(page, "answering")
    proxy.release()
    expect(finished_answers(page)).to_have_count(1, timeout=10_000)
    page.wait_for_timeout(400)  # smooth scrolling
    screenshot(page, "mobile-4-answered.png")

    # The button asks for a person (`handoff_request`); nobody is on duty here, so the contact options and
    # the callback offer come (tests/test_widget_handoff.py has a person on duty).
    page.get_by_role("button", name="Mit einem Menschen sprechen").first.tap()
    handoff = page.locator("siwi-chat [data-handoff=offline]")
    expect(handoff).to_be_visible(timeout=30_000)
    assert {"v": 1, "type": "handoff_request", "language": "de"} in proxy.sent
    page.wait_for_timeout(400)
    screenshot(page, "mobile-5-handoff.png")
    assert_accessible(page, "handoff")

    # 320 px wide, and 200 % zoom of a 1280×800 screen (640×400 CSS pixels): nothing cut off, nothing
    # scrolls sideways, the input stays reachable.
    for width, height, name in [(320, 568, "mobile-6-320px.png"), (640, 400, "zoom-200-percent.png")]:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(200)
        overflow = page.evaluate("""() => {
            const root = document.querySelector('siwi-chat').shadowRoot;
            return [...root.querySelectorAll('.panel, .header, .toolbar, .scroller, .composer, .bubble')]
                .filter(el => el.scrollWidth > el.clientWidth + 1).map(el => el.className);
        }""")
        assert overflow == [], f"{width}×{height}: sideways overflow in {overflow}"
        composer = page.locator("siwi-chat .composer textarea").bounding_box()
        assert composer and composer["y"] + composer["height"] <= height and composer["width"] >= 150
        screenshot(page, name)
    no_script_ran(page)


def test_payloads_in_a_question_and_in_a_document_stay_text(site, new_page):
    page = new_page()
    page.goto(f"{site.url}/")
    page.get_by_role("button", name="Frage stellen").click()
    question = ("Was kostet die Abholung von Sperrmüll? <img src=x onerror=window.__siwiXss=5> "
                "<script>window.__siwiXss=6</script>")
    ask(page, question)
    expect(page.locator("siwi-chat li.msg.user .bubble").last).to_have_text(question)
    answer = finished_answers(page).last
    expect(answer).to_be_visible(timeout=ANSWER_TIMEOUT)
    expect(answer).to_have_class(re.compile(r"\banswered\b"))
    # The title and the supporting sentence of the planted document are shown as the characters they are.
    source = answer.locator(".source").filter(has_text="Sperrmüll abholen")
    expect(source).to_have_count(1)
    link = source.get_by_role("link")
    expect(link).to_contain_text("Sperrmüll abholen <img src=x onerror=window.__siwiXss=1> "
                                 "<script>window.__siwiXss=2</script>")
    link.focus()
    expect(source.locator(".snippet")).to_contain_text("<img src=x onerror=window.__siwiXss=3>")
    page.wait_for_timeout(300)
    no_script_ran(page)


def test_markdown_is_rendered_safely(site, new_page):
    """The renderer against a scripted server (the model cannot be made to write all of this): Markdown
    becomes lists, bold and http(s) links; HTML and other link schemes stay text. A `busy` error marks the
    question as failed, and "Erneut senden" asks it again."""
    page = new_page()
    answer_text = (
        "**Wichtig:** Bringen Sie Folgendes mit [1]:\n"
        "- Ihren *bisherigen* Ausweis [1]\n"
        "- ein biometrisches Foto [1][2]\n\n"
        "Mehr unter [Serviceportal](https://www.kreis-lindenau.example/portal) oder "
        "https://www.kreis-lindenau.example/faq. Nicht: [hier](javascript:alert(1)) "
        '<a href="javascript:alert(2)">Link</a> <img src=x onerror="window.__siwiXss=7"> '
        "<script>window.__siwiXss=8</script> `<b>code</b>` [3]"
    )
    citations = [
        {"number": 1, "title": "Personalausweis <b>beantragen</b>", "url": "https://www.kreis-lindenau.example/pa",
         "location": "https://www.kreis-lindenau.example/pa", "source_id": "pa",
         "snippet": "Bitte bringen Sie <img src=x onerror=window.__siwiXss=9> mit."},
        {"number": 2, "title": "Passfoto", "url": "javascript:alert(3)", "location": "javascript:alert(3)",
         "source_id": "foto", "snippet": "Ein Foto."},
        {"number": 3, "title": "Lokale Datei", "url": None, "location": "/srv/x.txt", "source_id": "x", "snippet": ""},
    ]
    questions: list[dict] = []

    def scripted(route) -> None:
        route.send(json.dumps({"v": 1, "type": "ready", "conversation_id": "scripted"}))

        def reply(message: str) -> None:
            frame = json.loads(message)
            if frame["type"] != "user_message":
                return
            questions.append(frame)
            cid = frame["client_message_id"]
            if len(questions) == 2:
                route.send(json.dumps({"v": 1, "type": "error", "code": "busy", "message": "Zu viele Anfragen."}))
                return
            route.send(json.dumps({"v": 1, "type": "started", "conversation_id": "scripted", "client_message_id": cid}))
            for piece in re.findall(r"\S+\s*", answer_text):
                route.send(json.dumps({"v": 1, "type": "delta", "text": piece}))
            route.send(json.dumps({"v": 1, "type": "final", "conversation_id": "scripted", "client_message_id": cid,
                                   "answer": {"text": answer_text, "outcome": "answered", "citations": citations,
                                              "language": "de", "question": frame["text"],
                                              "standalone_question": frame["text"], "future_field": 1}}))

        route.on_message(reply)

    page.route_web_socket(re.compile(r"/ws/chat"), scripted)
    page.goto(f"{site.url}/")
    page.get_by_role("button", name="Frage stellen").click()
    ask(page, "Was brauche ich?")
    answer = finished_answers(page).first
    expect(answer).to_be_visible()
    content = answer.locator(".content")
    expect(content.locator("strong")).to_have_text("Wichtig:")
    expect(content.locator("ul > li")).to_have_count(2)
    expect(content.locator("em")).to_have_text("bisherigen")
    expect(content.locator("code")).to_have_text("<b>code</b>")
    hrefs = content.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == ["https://www.kreis-lindenau.example/portal", "https://www.kreis-lindenau.example/faq"]
    text = content.inner_text()
    for literal in ["[hier](javascript:alert(1))", '<a href="javascript:alert(2)">Link</a>',
                    '<img src=x onerror="window.__siwiXss=7">', "<script>window.__siwiXss=8</script>"]:
        assert literal in text
    assert page.locator("siwi-chat a[href^='javascript'], siwi-chat [href^='javascript']").count() == 0
    expect(answer.get_by_role("button", name=re.compile(r"^Quelle \d"))).to_have_count(5)
    # Sources: an http(s) URL is a link, anything else is the title as text.
    sources = answer.locator(".source")
    expect(sources.nth(0).get_by_role("link")).to_contain_text("Personalausweis <b>beantragen</b>")
    expect(sources.nth(1).get_by_role("link")).to_have_count(0)
    expect(sources.nth(1)).to_contain_text("Passfoto")
    expect(sources.nth(2)).to_contain_text("Lokale Datei")
    sources.nth(0).get_by_role("button", name="Beleg anzeigen").click()
    expect(sources.nth(0).locator(".snippet")).to_contain_text("<img src=x onerror=window.__siwiXss=9>")

    ask(page, "Und noch etwas?")
    failed = page.locator("siwi-chat li.msg.user.failed")
    expect(failed).to_contain_text("Im Moment sind viele Anfragen in Bearbeitung.")
    failed.get_by_role("button", name="Erneut senden").click()
    expect(finished_answers(page)).to_have_count(2)
    expect(page.locator("siwi-chat li.msg.user")).to_have_count(2)
    assert questions[1]["client_message_id"] == questions[2]["client_message_id"]
    no_script_ran(page)


def test_options_from_data_attributes_and_init_and_host_css_cannot_break_it(site, new_page):
    hostile = """<!doctype html><html lang="en"><head><title>Host</title><style>
        html { font-size: 62.5% !important; }
        body * { color: #ff00ff !important; font-size: 40px !important; line-height: 3 !important; }
        button, textarea, ol, li { display: none !important; }
        siwi-chat { --siwi-accent: #00594f; }
        </style></head><body><h1>Another administration</h1>{script}</body></html>"""
    tags = {
        "data.html": '<script src="/widget/siwi.js" data-lang="en" data-title="Ask Lindenau" data-position="left" '
                     'data-privacy-url="https://example.org/privacy" data-color-accent="#6a1b9a" defer></script>',
        "init.html": '<script src="/widget/siwi.js" data-init="manual" defer></script><script>'
                     'addEventListener("load", () => SiWi.init({lang: "de", position: "right", open: true, '
                     'title: "Kreis-Chat", colors: {accent: "#00594f"}}));</script>',
    }
    page = new_page(reduced_motion="reduce")
    page.route(re.compile(r"/host/(data|init)\.html$"), lambda route: route.fulfill(
        content_type="text/html", body=hostile.replace("{script}", tags[route.request.url.rsplit("/", 1)[1]])))

    page.goto(f"{site.url}/host/data.html")
    launcher = page.get_by_role("button", name="Ask a question")
    expect(launcher).to_be_visible()
    assert launcher.bounding_box()["x"] < 100, "data-position=left puts the launcher on the left"
    assert launcher.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(106, 27, 154)"
    assert launcher.evaluate("el => getComputedStyle(el).fontSize") == "16px"
    launcher.click()
    dialog = page.get_by_role("dialog", name="Ask Lindenau")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("You are chatting with an AI assistant")
    expect(dialog.get_by_role("link", name=re.compile("Privacy notice"))).to_have_attribute(
        "href", "https://example.org/privacy")
    expect(dialog.get_by_role("button", name="Talk to a person")).to_be_visible()
    expect(dialog.get_by_role("textbox", name="Your question")).to_be_visible()
    assert page.locator("siwi-chat .root").get_attribute("lang") == "en"
    assert dialog.evaluate("el => getComputedStyle(el).animationName") == "none", "prefers-reduced-motion"
    # The widget's CSS stays inside: the host's heading is untouched.
    assert page.locator("h1").evaluate("el => getComputedStyle(el).color") == "rgb(255, 0, 255)"

    page.goto(f"{site.url}/host/init.html")
    dialog = page.get_by_role("dialog", name="Kreis-Chat")
    expect(dialog).to_be_visible()  # open on load
    expect(dialog).to_contain_text("Sie chatten mit einem KI-Assistenten")
    assert page.locator("siwi-chat .root").get_attribute("data-position") == "right"
    header = page.locator("siwi-chat .header")
    assert header.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(0, 89, 79)"
    assert page.evaluate("typeof SiWi.version") == "string"
    page.evaluate("SiWi.close()")
    expect(dialog).to_be_hidden()
    assert page.errors == []


def test_reconnects_after_a_server_restart_without_losing_or_repeating_messages(site, new_page):
    page = new_page()
    received: list[dict] = []
    sent: list[dict] = []

    def watch(ws) -> None:
        ws.on("framereceived", lambda payload: received.append(json.loads(payload)))
        ws.on("framesent", lambda payload: sent.append(json.loads(payload)))

    page.on("websocket", watch)
    page.goto(f"{site.url}/")
    page.get_by_role("button", name="Frage stellen").click()

    # The server goes away while it answers …
    ask(page, "Wie hoch ist die Hundesteuer für den ersten Hund?")
    wait_until(page, lambda: any(f["type"] == "started" for f in received), "the answer to start")
    conversation = storage(page, site)["conversationId"]
    assert conversation
    site.stop()
    status = page.locator("siwi-chat .connection [role=status]")
    expect(status).to_contain_text("Keine Verbindung zum Server", timeout=15_000)
    expect(page.get_by_role("button", name="Jetzt erneut verbinden")).to_be_visible()
    # … the citizen writes on (kept until the connection is back) …
    ask(page, "Ich möchte bitte mit einem Menschen sprechen.")
    pending = page.locator("siwi-chat li.msg.user.queued")
    expect(pending).to_have_count(2)
    expect(pending.last).to_contain_text("Wird gesendet, sobald die Verbindung wieder besteht.")

    # … and it comes back on the same port: the widget reconnects by itself, in the same conversation,
    # asks the interrupted question again and then the new one, each answered once.
    site.start()
    expect(status).to_have_text("Verbindung wiederhergestellt.", timeout=30_000)
    expect(finished_answers(page)).to_have_count(2, timeout=ANSWER_TIMEOUT)
    readies = [f for f in received if f["type"] == "ready"]
    assert len(readies) >= 2 and {f["conversation_id"] for f in readies} == {conversation}
    users = page.locator("siwi-chat li.msg.user .bubble").all_inner_texts()
    assert users == ["Wie hoch ist die Hundesteuer für den ersten Hund?",
                     "Ich möchte bitte mit einem Menschen sprechen."]
    order = page.locator("siwi-chat li.msg").evaluate_all("items => items.map(li => li.classList[1])")
    assert order == ["user", "bot", "user", "bot"]
    # The interrupted question went out twice under one id and was answered once.
    questions = [m for m in sent if m["type"] == "user_message"]
    assert [m["text"] for m in questions] == [users[0], users[0], users[1]]
    assert questions[0]["client_message_id"] == questions[1]["client_message_id"]
    finals = [f["client_message_id"] for f in received if f["type"] == "final"]
    assert finals == [questions[1]["client_message_id"], questions[2]["client_message_id"]]
    dog_tax = answers(page).first
    expect(dog_tax).to_have_class(re.compile(r"\b(answered|no_answer)\b"))
    expect(dog_tax.locator(".msg-status")).to_have_count(0)  # no "interrupted" note left
    expect(answers(page).last.locator("[data-handoff]")).to_be_visible()
    assert storage(page, site)["conversationId"] == conversation

    # "Gespräch löschen" starts afresh: nothing shown, a new conversation id from the server.
    page.get_by_role("button", name="Gespräch löschen").click()
    expect(page.locator("siwi-chat li.msg")).to_have_count(0)
    wait_until(page, lambda: storage(page, site).get("conversationId") not in (None, conversation),
               "a new conversation", timeout=15)
    expect(page.locator("siwi-chat [aria-live=polite]")).to_have_text(re.compile("Das Gespräch wurde gelöscht"))
    no_script_ran(page)


def test_fair_use_errors_are_shown_in_the_widgets_language(site, new_page):
    """The server's limits (rate_limited, too_many_waiting …) come with a German message; an English widget
    says them in English, from its own texts (a scripted server: the limits need many clients to trigger)."""
    codes = iter(["rate_limited", "too_many_waiting", "invalid_text"])

    def scripted(route) -> None:
        route.send(json.dumps({"v": 1, "type": "ready", "conversation_id": "scripted"}))

        def reply(message: str) -> None:
            if json.loads(message)["type"] == "user_message":
                route.send(json.dumps({"v": 1, "type": "error", "code": next(codes),
                                       "message": "Bitte warten Sie 12 Sekunden."}))

        route.on_message(reply)

    page = new_page()
    page.route_web_socket(re.compile(r"/ws/chat"), scripted)
    page.route(re.compile(r"/host/en\.html$"), lambda route: route.fulfill(
        content_type="text/html", body='<!doctype html><html lang="en"><head><title>Host</title></head><body>'
                                       '<script src="/widget/siwi.js" data-lang="en" defer></script></body></html>'))
    page.goto(f"{site.url}/host/en.html")
    page.get_by_role("button", name="Ask a question").click()
    failed = page.locator("siwi-chat li.msg.user.failed")
    for number, expected in enumerate(["asked a great many questions", "still waiting for an answer",
                                       "invalid characters"], 1):
        ask(page, f"Question {number}?")
        expect(failed.nth(number - 1)).to_contain_text(expected)
    expect(page.locator("siwi-chat")).not_to_contain_text("Bitte warten Sie")
