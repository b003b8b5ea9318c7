"""The staff workspace's pages under /staff in Debian's headless Chromium against a real SiWi server: login,
the live inbox with a conversation that a real citizen WebSocket client started, claim / reply / close,
callbacks, feedback, the knowledge search with internal documents, exports; axe-core on every page.

The inbox screenshot goes to tests/artifacts/staff-inbox.png."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from bot.app import create_app
from bot.services import build_index, build_pipeline
from siwi.settings import Settings
from tests import test_widget
from tests.conftest import FIXTURES, MODELS_DIR, SMALL_MODEL, LiveServer
from tests.test_handoff_flow import PASSWORDS, Citizen, Staff, add_accounts
from tests.test_widget import ARTIFACTS, AXE, axe_violations, expect, screenshot

browser = test_widget.browser
new_page = test_widget.new_page


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder, small_model) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("staff-pages")
    settings = Settings(data_dir=data, models_dir=MODELS_DIR, llm_model=SMALL_MODEL, llm_max_tokens=80,
                        office_hours="always")
    index = build_index(settings, embedder)
    index.ingestor(settings).ingest([FIXTURES / "kb"])
    add_accounts(data)  # with the `siwi staff add` CLI, as an operator would
    with LiveServer(create_app(settings, index, build_pipeline(settings, index, small_model))) as live:
        yield live


def assert_accessible(page, state: str) -> None:
    """axe-core, WCAG 2.0/2.1 A and AA. The pages' Content-Security-Policy allows no injected <script>, so
    axe comes in through the DevTools protocol (which the policy does not govern)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    violations = axe_violations(page)
    assert not violations, f"axe, {state}: " + json.dumps(violations, indent=1, ensure_ascii=False)


def log_in(page, server: LiveServer, username: str = "muster", path: str = "/staff/") -> None:
    page.goto(f"{server.http}{path}")
    page.wait_for_url(re.compile(r"/staff/login"))
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(PASSWORDS[username])
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("button", name="Abmelden")).to_be_visible()


def on_duty_shown(page) -> None:
    """The page's own socket is open: the chat is staffed (office hours "always")."""
    expect(page.locator(".duty")).to_contain_text("Der Chat ist besetzt")


def test_pages_are_served_with_a_strict_policy(server):
    page = httpx.get(f"{server.http}/staff/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy
    assert page.headers["cache-control"] == "no-store"
    assert '<script src="/staff/assets/staff.js"' in page.text
    for path in ("/staff", "/staff/login", "/staff/search", "/staff/callbacks", "/staff/feedback", "/staff/export"):
        assert httpx.get(f"{server.http}{path}").status_code == 200, path
    script = httpx.get(f"{server.http}/staff/assets/staff.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(", script.text)
    assert httpx.get(f"{server.http}/staff/assets/staff.css").headers["content-type"].startswith("text/css")
    assert httpx.get(f"{server.http}/staff/assets/../app.py").status_code == 404
    assert httpx.get(f"{server.http}/staff/assets/other.js").status_code == 404


def test_staff_logs_in_claims_replies_and_closes_a_real_citizens_conversation(server, new_page):
    page = new_page()
    page.goto(f"{server.http}/staff/")
    page.wait_for_url(re.compile(r"/staff/login\?next="))
    expect(page.get_by_role("heading", name="Anmeldung")).to_be_visible()
    expect(page.get_by_label("Benutzername")).to_be_focused()
    assert_accessible(page, "login")

    # A wrong password: the server's message, announced (role=alert), and the focus back in the field.
    page.get_by_label("Benutzername").fill("muster")
    page.get_by_label("Passwort").fill("falsches-passwort")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("alert")).to_have_text("Benutzername oder Passwort ist falsch.")
    expect(page.get_by_label("Passwort")).to_be_focused()
    expect(page.get_by_label("Passwort")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, "login failed")
    page.get_by_label("Passwort").fill(PASSWORDS["muster"])
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", name="Posteingang", level=1)).to_be_visible()
    assert page.url == f"{server.http}/staff/"
    on_duty_shown(page)
    expect(page.get_by_role("link", name="Export")).to_have_count(0)  # agents do not export

    # A real citizen asks for a person: the conversation arrives live, with the badge and an announcement.
    citizen = Citizen(server.http)
    question = "Was kostet der Personalausweis für Personen ab 24 Jahren?"
    first = citizen.ask(question, client_message_id="m-1")["answer"]
    assert first["outcome"] == "answered" and first["citations"], first
    citizen.send(type="handoff_request")
    assert citizen.handoff("waiting")["position"] == 1
    item = page.locator("button.conversation.waiting")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Position 1")
    expect(item).to_contain_text(question)
    expect(page.get_by_role("link", name=re.compile(r"^Posteingang 1 wartend$"))).to_be_visible()
    expect(page.locator("#live")).to_contain_text("Neue Anfrage in der Warteschlange")
    assert page.title().startswith("(1) Posteingang")

    # The transcript: the citizen's question and SiWi's answer with its sources (title, link, snippet).
    item.click()
    transcript = page.locator(".transcript")
    expect(transcript.locator(".message.citizen")).to_have_text(re.compile(re.escape(question)))
    bot = transcript.locator(".message.bot")
    expect(bot).to_have_count(1)
    expect(bot.locator(".text")).to_have_text(first["text"])
    cited = next(c for c in first["citations"] if c["url"])
    source = bot.locator(f".citations li[value='{cited['number']}']")
    expect(source.get_by_role("link")).to_contain_text(cited["title"])
    expect(source.get_by_role("link")).to_have_attribute("href", cited["url"])
    expect(source.locator("blockquote")).to_have_text(cited["snippet"])
    expect(page.get_by_role("heading", level=2, name=re.compile("^Gespräch "))).to_be_focused()

    # Claim: the citizen is told who is there; the reply box takes the focus.
    page.get_by_role("button", name="Übernehmen").click()
    assert citizen.handoff("assigned")["text"] == "Frau Muster aus dem Team Bürgerservice ist jetzt für Sie da."
    reply = page.get_by_label("Ihre Antwort an die Bürgerin / den Bürger")
    expect(reply).to_be_focused()
    expect(page.locator("button.conversation.assigned")).to_contain_text("bei Ihnen")
    reply.fill("Guten Tag, ich bin Frau Muster. Worum geht es genau?")
    page.get_by_role("button", name="Antwort senden").click()
    got = citizen.expect("staff_message")
    assert got["text"] == "Guten Tag, ich bin Frau Muster. Worum geht es genau?" and got["staff_name"] == "Frau Muster"
    expect(reply).to_have_value("")

    # The citizen answers: it appears in the transcript, live.
    citizen.send(type="user_message", text="Um die Unterlagen für den Antrag.", client_message_id="m-2")
    citizen.expect("delivered")
    expect(transcript.locator(".message.citizen").last).to_contain_text("Um die Unterlagen für den Antrag.")
    expect(transcript.locator(".message.staff")).to_contain_text("Worum geht es genau?")
    page.wait_for_timeout(300)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "staff-inbox.png"), full_page=True)
    assert_accessible(page, "inbox with a conversation")
    # 200 % zoom of a 1280×800 screen: one column, nothing scrolls sideways.
    page.set_viewport_size({"width": 640, "height": 400})
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth") <= 640
    screenshot(page, "staff-inbox-200-percent.png")
    page.set_viewport_size({"width": 1280, "height": 800})

    # Close with a note: the citizen is told, the inbox is empty again.
    page.get_by_text("Gespräch beenden …").click()
    page.get_by_label("Abschlussnotiz").fill("Unterlagen per E-Mail geschickt")
    page.get_by_role("button", name="Gespräch beenden", exact=True).click()
    closed = citizen.handoff("closed")
    assert closed["closed_by"] == "staff"
    expect(page.locator("button.conversation")).to_have_count(0)
    expect(page.locator(".actions")).to_contain_text("Unterlagen per E-Mail geschickt")
    detail = Staff(server.http, "chefin").get(f"/staff/api/conversations/{citizen.conversation_id}").json()
    assert detail["close_note"] == "Unterlagen per E-Mail geschickt"

    # Away: nobody on duty any more, so the next citizen gets the contact options instead of the queue.
    page.get_by_label("Für Chats verfügbar").uncheck()
    expect(page.locator(".duty")).to_contain_text("nicht besetzt")
    citizen.send(type="handoff_request")
    citizen.handoff("offline")
    citizen.close()
    page.get_by_role("button", name="Abmelden").click()
    expect(page.get_by_role("heading", name="Anmeldung")).to_be_visible()
    assert page.errors == []


def test_knowledge_search_marks_internal_documents_and_highlights_matches(server, new_page):
    page = new_page()
    log_in(page, server, path="/staff/search")
    expect(page.get_by_role("heading", name="Wissenssuche", level=1)).to_be_visible()
    page.get_by_label("Suchbegriffe").fill("Dienstanweisung Chat-Übergabe Kennwort")
    page.get_by_role("button", name="Suchen").click()
    page.wait_for_url(re.compile(r"/staff/search\?q="))
    hits = page.locator(".hit")
    expect(hits.first).to_be_visible(timeout=30_000)
    internal = page.locator(".hit.internal").first
    expect(internal.locator(".tag")).to_have_text("intern")
    expect(internal.get_by_role("heading")).to_contain_text("Dienstanweisung Chat-Übergabe")
    expect(internal).to_contain_text("INTERN-GEHEIM-7Q4X")
    marks = [m.lower() for m in internal.locator("mark").all_inner_texts()]
    assert marks and any(m.startswith(("dienstanweisung", "kennwort", "chat")) for m in marks), marks
    # The marks are exactly the server's offsets into the snippet.
    staff = Staff(server.http, "muster")
    found = staff.get("/staff/api/search", q="Dienstanweisung Chat-Übergabe Kennwort").json()["results"]
    hit = next(r for r in found if r["visibility"] == "internal")
    assert marks == [hit["snippet"][a:b].lower() for a, b in hit["highlights"]]
    # Public documents link to their page.
    public = page.locator(".hit:not(.internal)").filter(has=page.get_by_role("link")).first
    expect(public.get_by_role("link")).to_have_attribute("href", re.compile(r"^https://"))
    screenshot(page, "staff-search.png")
    assert_accessible(page, "search results")

    # Filters: only public documents — no "intern" mark left.
    page.get_by_label("Sichtbarkeit").select_option("public")
    page.get_by_role("button", name="Suchen").click()
    page.wait_for_url(re.compile(r"visibility=public"))
    expect(hits.first).to_be_visible(timeout=30_000)
    expect(page.locator(".tag.intern")).to_have_count(0)
    page.get_by_label("Sichtbarkeit").select_option("internal")
    page.get_by_role("button", name="Suchen").click()
    page.wait_for_url(re.compile(r"visibility=internal"))
    expect(page.locator(".tag.public")).to_have_count(0)
    expect(page.locator(".tag.intern").first).to_be_visible(timeout=30_000)

    # Ask mode: the same field, answered by the model from public and internal documents, checked.
    page.get_by_label("Sichtbarkeit").select_option("all")
    page.get_by_label("Suchbegriffe").fill("Innerhalb welcher Zeit werden übernommene Chats beantwortet?")
    page.get_by_role("button", name="Als Frage beantworten").click()
    page.wait_for_url(re.compile(r"ask=1"))
    expect(page.get_by_role("heading", name="Antwort", level=2)).to_be_visible(timeout=180_000)
    expect(page.locator("main .status-line")).to_have_text(
        re.compile("Antwort mit Quellen|Keine belegte Antwort gefunden"))
    if page.locator(".sources li").count():
        expect(page.locator(".sources li .tag").first).to_have_text(re.compile("intern|öffentlich"))
    screenshot(page, "staff-ask.png")
    assert_accessible(page, "ask mode")
    assert page.errors == []


def test_callbacks_feedback_and_exports(server, new_page):
    # A callback request and two ratings from a real citizen socket.
    citizen = Citizen(server.http)
    answer = citizen.ask("Was kostet der Personalausweis für Personen ab 24 Jahren?", client_message_id="q-1")
    assert answer["answer"]["text"]
    citizen.send(type="feedback", client_message_id="q-1", rating="up", comment="Sehr hilfreich")
    citizen.expect("feedback_ack")

    page = new_page()
    log_in(page, server, path="/staff/callbacks")
    expect(page.get_by_role("heading", name="Rückrufe", level=1)).to_be_visible()
    citizen.send(type="callback_request", consent=True, phone="0271 12345", name="Erika Mustermann",
                 message="Bitte vormittags anrufen.")
    citizen.expect("callback_received")
    card = page.locator(".card").filter(has_text="Erika Mustermann")
    expect(card).to_be_visible()
    expect(card.get_by_role("link", name="0271 12345")).to_have_attribute("href", "tel:027112345")
    expect(card).to_contain_text("Bitte vormittags anrufen.")
    expect(page.get_by_role("link", name=re.compile(r"^Rückrufe 1 offen$"))).to_be_visible()
    assert_accessible(page, "callbacks")
    card.get_by_label("Notiz").fill("zurückgerufen")
    card.get_by_role("button", name="Als erledigt markieren").click()
    expect(page.locator(".card").filter(has_text="Erika Mustermann")).to_have_count(0)
    expect(page.locator(".status-line")).to_contain_text("als erledigt markiert")
    page.get_by_role("link", name="Erledigt").click()
    expect(page.locator(".card").filter(has_text="Erika Mustermann")).to_contain_text("zurückgerufen")

    # Feedback: the rating with its question, filtered by rating.
    citizen.send(type="feedback", client_message_id="q-1", rating="down", comment="Die Kinder fehlen")
    citizen.expect("feedback_ack")
    page.get_by_role("link", name="Rückmeldungen").click()
    rows = page.locator("tbody tr")
    expect(rows.filter(has_text="Sehr hilfreich")).to_have_count(1)
    expect(rows.filter(has_text="Die Kinder fehlen")).to_have_count(1)
    page.get_by_label("Bewertung").select_option("down")
    page.get_by_role("button", name="Anzeigen").click()
    page.wait_for_url(re.compile(r"rating=down"))
    expect(rows.filter(has_text="Sehr hilfreich")).to_have_count(0)
    expect(rows.filter(has_text="Die Kinder fehlen")).to_have_count(1)
    assert page.locator("tbody tr[data-rating=up]").count() == 0
    assert_accessible(page, "feedback")
    citizen.close()

    # Exports: links for admins, the files come with the session cookie.
    admin = new_page()
    log_in(admin, server, "chefin")
    admin.get_by_role("link", name="Export").click()
    link = admin.get_by_role("link", name="Abgeschlossene Gespräche als CSV")
    expect(link).to_have_attribute("href", "/staff/api/export/conversations?format=csv")
    admin.get_by_label("Seit").fill("2020-01-01")
    admin.get_by_label("Seit").dispatch_event("change")
    expect(admin.get_by_role("link", name="Rückmeldungen als JSON")).to_have_attribute(
        "href", "/staff/api/export/feedback?format=json&since=2020-01-01")
    response = admin.request.get(f"{server.http}/staff/api/export/feedback?format=csv")
    assert response.status == 200 and "Die Kinder fehlen" in response.text()
    assert_accessible(admin, "exports")
    assert page.errors == [] and admin.errors == []
