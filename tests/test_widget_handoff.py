"""The citizen's side of the human handoff in the widget, in Debian's headless Chromium against a real SiWi
server (real SQLite queue, real uvicorn), with a member of staff on the other side who uses the staff
HTTP API and the staff WebSocket directly (as tests/test_handoff_flow.py does).

Screenshots of the states at 375×667 go to tests/artifacts/handoff-*.png."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from bot.app import create_app
from bot.services import build_index, build_pipeline
from siwi.settings import Settings
from tests import test_widget
from tests.conftest import FIXTURES, MODELS_DIR, SMALL_MODEL, LiveServer
from tests.test_handoff_flow import add_accounts, conversation_event, on_duty
from tests.test_widget import assert_accessible, expect, screenshot, wait_until

# The browser (Debian's chromium, skipped without it) and pages as in the widget's other tests.
browser = test_widget.browser
new_page = test_widget.new_page

MOBILE = {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder, small_model) -> Iterator[LiveServer]:
    """Office hours "always": whether somebody is on duty depends only on a staff socket being open."""
    data = tmp_path_factory.mktemp("widget-handoff")
    settings = Settings(data_dir=data, models_dir=MODELS_DIR, llm_model=SMALL_MODEL, llm_max_tokens=80,
                        office_hours="always", contact_phone="0271 333-0",
                        contact_appointment_url="https://termine.kreis-lindenau.example/")
    index = build_index(settings, embedder)
    index.ingestor(settings).ingest([FIXTURES / "kb"])
    add_accounts(data)
    with LiveServer(create_app(settings, index, build_pipeline(settings, index, small_model))) as live:
        yield live


class Frames:
    """Every chat socket the page opens: its URL and the frames both ways."""

    def __init__(self, page) -> None:
        self.urls: list[str] = []
        self.sent: list[dict] = []
        self.received: list[dict] = []
        page.on("websocket", self._watch)

    def _watch(self, ws) -> None:
        if "/ws/chat" not in ws.url:
            return
        self.urls.append(ws.url)
        ws.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        ws.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    def of_type(self, kind: str, sent: bool = False) -> list[dict]:
        return [f for f in (self.sent if sent else self.received) if f["type"] == kind]


def stored(page, server: LiveServer) -> dict:
    raw = page.evaluate("(key) => sessionStorage.getItem(key)", f"siwi:v1:{server.ws}")
    return json.loads(raw) if raw else {}


def widget(page, selector: str):
    return page.locator(f"siwi-chat {selector}")


def open_chat(page, server: LiveServer) -> None:
    page.goto(f"{server.http}/")
    page.get_by_role("button", name="Frage stellen").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.wait_for_timeout(300)  # the opening animation


def test_citizen_waits_is_taken_over_talks_with_staff_and_ends(server, new_page):
    with on_duty(server.http) as (staff, inbox):
        page = new_page(**MOBILE)
        frames = Frames(page)
        open_chat(page, server)

        # The button asks for a person: the waiting card with the place in the queue and the estimate.
        page.get_by_role("button", name="Mit einem Menschen sprechen").tap()
        card = widget(page, "[data-handoff=waiting]")
        expect(card).to_be_visible(timeout=15_000)
        expect(card).to_contain_text("Sie warten auf unser Team")
        expect(card).to_contain_text(re.compile(r"Position 1 der Warteschlange.*etwa \d+ Minuten?"))
        assert {"v": 1, "type": "handoff_request", "language": "de"} in frames.sent
        expect(widget(page, "[aria-live=polite]")).to_contain_text("Position 1")
        cid = stored(page, server)["conversationId"]
        assert stored(page, server)["resumeToken"] == frames.of_type("handoff")[0]["resume_token"]
        queued = inbox.find(conversation_event(cid, "queued"))["conversation"]
        assert queued["reason"] == "button" and queued["position"] == 1
        # While waiting, the toolbar offers to end it and the input writes to the team.
        expect(page.get_by_role("button", name="Gespräch beenden")).to_be_visible()
        expect(page.get_by_role("textbox", name="Ihre Nachricht an unser Team")).to_be_visible()
        page.wait_for_timeout(300)
        screenshot(page, "handoff-1-waiting.png")
        assert_accessible(page, "handoff waiting")

        # A member of staff takes over: "Frau Muster aus dem Team Bürgerservice ist jetzt für Sie da."
        inbox.send(type="claim", conversation_id=cid, request_id="c-1")
        assert inbox.until(lambda f: f["type"] in ("ack", "error"))["type"] == "ack"
        joined = widget(page, "li.msg.event")
        expect(joined).to_have_text("Frau Muster aus dem Team Bürgerservice ist jetzt für Sie da.")
        expect(card).to_be_hidden()
        expect(widget(page, "[aria-live=polite]")).to_have_text(joined.inner_text())

        # What she writes appears as hers, set apart from SiWi's answers, and is announced.
        inbox.send(type="reply", conversation_id=cid, text="Guten Tag, wie kann ich Ihnen helfen?", request_id="r-1")
        first_seq = inbox.until(lambda f: f["type"] == "ack" and f["request_id"] == "r-1")["seq"]
        message = widget(page, "li.msg.staff")
        expect(message).to_have_count(1)
        expect(message.locator(".who")).to_contain_text("Frau Muster")
        expect(message.locator(".bubble")).to_have_text("Guten Tag, wie kann ich Ihnen helfen?")
        expect(message.locator(".bubble")).to_have_attribute("lang", "de")
        expect(widget(page, "li.msg.bot")).to_have_count(0)
        expect(widget(page, "[aria-live=polite]")).to_have_text(
            "Nachricht von Frau Muster: Guten Tag, wie kann ich Ihnen helfen?")

        # The citizen's answer goes to her, not to the bot.
        box = page.get_by_role("textbox", name="Ihre Nachricht an unser Team")
        box.fill("Ich brauche einen Termin für meinen Ausweis.")
        box.press("Enter")
        got = inbox.until(lambda f: f["type"] == "message" and f["message"]["role"] == "citizen")
        assert got["message"]["text"] == "Ich brauche einen Termin für meinen Ausweis."
        wait_until(page, lambda: frames.of_type("delivered"), "delivered", timeout=15)
        assert frames.of_type("delivered")[0]["seq"] == first_seq + 1
        assert not frames.of_type("started") and not frames.of_type("final")
        expect(widget(page, "li.msg.user")).to_have_count(1)
        expect(widget(page, "li.msg.user .msg-status")).to_have_count(0)
        page.wait_for_timeout(300)
        screenshot(page, "handoff-2-assigned.png")
        assert_accessible(page, "handoff assigned")

        # The citizen leaves the page; she writes meanwhile; on the next page the widget reconnects with the
        # resume token and the last seq seen: the missed message comes once, nothing is shown twice.
        page.goto("about:blank")
        missed = staff.post(f"/staff/api/conversations/{cid}/reply", {"text": "Morgen um 9 Uhr wäre frei."})
        assert missed.status_code == 200, missed.text
        page.goto(f"{server.http}/static/datenschutz.html")
        expect(widget(page, "li.msg.staff")).to_have_count(2, timeout=15_000)
        expect(widget(page, "li.msg.staff .bubble")).to_have_text(
            ["Guten Tag, wie kann ich Ihnen helfen?", "Morgen um 9 Uhr wäre frei."])
        expect(widget(page, "li.msg.event")).to_have_count(1)
        resumed = frames.urls[-1]
        assert f"conversation_id={cid}" in resumed and f"after={first_seq + 1}" in resumed
        assert "resume_token=" + stored(page, server)["resumeToken"] in resumed
        assert stored(page, server)["lastSeq"] == missed.json()["seq"]

        # "Gespräch beenden": the citizen ends it; staff see it go; SiWi answers again.
        page.get_by_role("button", name="Gespräch beenden").tap()
        expect(widget(page, "li.msg.event").last).to_contain_text("Sie haben das Gespräch mit unserem Team beendet")
        assert {"v": 1, "type": "end_handoff"} in frames.sent
        assert inbox.find(conversation_event(cid, "closed"))["conversation"]["closed_by"] == "citizen"
        expect(page.get_by_role("button", name="Mit einem Menschen sprechen")).to_be_visible()
        expect(page.get_by_role("textbox", name="Ihre Frage")).to_be_visible()
        assert stored(page, server)["handoff"] is None
        assert page.errors == []


def test_staff_closes_and_a_transfer_back_to_the_queue_is_shown(server, new_page):
    with on_duty(server.http) as (staff, _):
        page = new_page(viewport={"width": 1280, "height": 800})
        open_chat(page, server)
        page.get_by_role("button", name="Mit einem Menschen sprechen").click()
        expect(widget(page, "[data-handoff=waiting]")).to_be_visible(timeout=15_000)
        cid = stored(page, server)["conversationId"]
        assert staff.post(f"/staff/api/conversations/{cid}/claim").status_code == 200
        expect(widget(page, "li.msg.event")).to_have_count(1)
        # Back into the queue: the waiting card again, no second "ist jetzt für Sie da".
        assert staff.post(f"/staff/api/conversations/{cid}/transfer", {"to": None}).status_code == 200
        expect(widget(page, "[data-handoff=waiting]")).to_be_visible()
        assert staff.post(f"/staff/api/conversations/{cid}/claim").status_code == 200
        expect(widget(page, "li.msg.event")).to_have_count(2)
        assert staff.post(f"/staff/api/conversations/{cid}/close", {"note": "erledigt"}).status_code == 200
        expect(widget(page, "li.msg.event").last).to_contain_text("Das Gespräch mit unserem Team ist beendet")
        expect(page.get_by_role("button", name="Mit einem Menschen sprechen")).to_be_visible()
        assert page.errors == []


def test_nobody_on_duty_offers_contact_and_a_callback_form_that_needs_consent(server, new_page):
    page = new_page(**MOBILE)
    frames = Frames(page)
    open_chat(page, server)
    page.get_by_role("button", name="Mit einem Menschen sprechen").tap()
    card = widget(page, "[data-handoff=offline]")
    expect(card).to_be_visible(timeout=15_000)
    expect(card).to_contain_text("Im Moment ist leider niemand aus unserem Team im Chat erreichbar")
    expect(card.get_by_role("link", name="Anrufen: 0271 333-0")).to_have_attribute("href", "tel:02713330")
    expect(card.get_by_role("link", name=re.compile("^E-Mail schreiben: "))).to_have_attribute(
        "href", "mailto:info@kreis-lindenau.example")
    expect(card.get_by_role("link", name=re.compile("Termin online buchen"))).to_have_attribute(
        "href", "https://termine.kreis-lindenau.example/")
    screenshot(page, "handoff-3-offline.png")
    assert_accessible(page, "handoff offline")

    # The form opens on request and takes the focus; the consent box starts unticked.
    toggle = card.get_by_role("button", name="Rückruf anfordern")
    toggle.tap()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    phone = card.get_by_label("Telefonnummer")
    expect(phone).to_be_focused()
    consent = card.get_by_role("checkbox", name=re.compile("Ich bin einverstanden"))
    expect(consent).not_to_be_checked()
    send = card.get_by_role("button", name="Rückrufbitte senden")

    # Neither phone nor e-mail, then no consent: nothing is sent, the reason is shown and the focus is where
    # it can be fixed.
    send.tap()
    error = card.locator("form.callback .error")
    expect(error).to_have_text("Bitte geben Sie eine Telefonnummer oder eine E-Mail-Adresse an.")
    expect(phone).to_be_focused()
    phone.fill("0271 12345")
    card.get_by_label("Worum geht es? (freiwillig)").fill("Bitte vormittags anrufen.")
    send.tap()
    expect(error).to_contain_text("Häkchen")
    expect(consent).to_be_focused()
    expect(consent).to_have_attribute("aria-invalid", "true")
    assert not frames.of_type("callback_request", sent=True)
    page.wait_for_timeout(300)
    screenshot(page, "handoff-4-consent-required.png")
    assert_accessible(page, "callback form, consent missing")

    # With consent, the server's own check still applies (a phone number that is none) …
    consent.check()
    phone.fill("abc")
    send.tap()
    expect(error).to_have_text("Die Telefonnummer sieht nicht gültig aus. Bitte prüfen Sie sie.")
    expect(phone).to_be_focused()
    # … and then the request arrives.
    phone.fill("0271 12345")
    send.tap()
    received = card.locator(".received")
    expect(received).to_contain_text("Wir haben Ihre Rückrufbitte erhalten")
    expect(received).to_be_focused()
    requests = frames.of_type("callback_request", sent=True)
    assert requests[-1] == {"v": 1, "type": "callback_request", "consent": True, "language": "de",
                            "phone": "0271 12345", "message": "Bitte vormittags anrufen."}
    assert all(r["consent"] is True for r in requests)
    screenshot(page, "handoff-5-callback-received.png")
    assert_accessible(page, "callback received")
    assert page.errors == []


def test_english_widget_texts_for_the_handoff(server, new_page):
    page = new_page()
    page.goto(f"{server.http}/")
    page.evaluate("SiWi.init({lang: 'en', open: true})")
    page.get_by_role("button", name="Talk to a person").click()
    card = widget(page, "[data-handoff=offline]")
    expect(card).to_be_visible(timeout=15_000)
    card.get_by_role("button", name="Request a callback").click()
    expect(card.get_by_label("Phone number")).to_be_focused()
    expect(card.get_by_role("checkbox", name=re.compile("I agree"))).not_to_be_checked()
    assert page.errors == []
