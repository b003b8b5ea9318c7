"""Human handoff end to end: real uvicorn servers on 127.0.0.1 (in-process, and `siwi serve` as a child
process for the restart), the small packaged LLM, a real Chroma index, a real SQLite queue, and real
WebSocket clients on both sides — a citizen on /ws/chat and staff on /staff/ws."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from bot.app import create_app
from bot.services import build_index, build_pipeline
from siwi import cli
from siwi.settings import Settings
from tests.conftest import FIXTURES, MODELS_DIR, SMALL_MODEL, LiveServer, free_port

PASSWORDS = {"muster": "muster-passwort-1", "beispiel": "beispiel-passwort-2", "chefin": "chefin-passwort-3"}
APPOINTMENTS = "https://termine.kreis-lindenau.example/"


def add_accounts(data_dir: Path) -> None:
    """Through the real CLI, as an operator would."""
    runner = CliRunner()
    for username, name, team, role in [("muster", "Frau Muster", "Bürgerservice", "agent"),
                                       ("beispiel", "Herr Beispiel", "Ordnungsamt", "agent"),
                                       ("chefin", "Frau Chefin", "Bürgerservice", "admin")]:
        result = runner.invoke(cli.app, ["staff", "add", username, "--name", name, "--team", team, "--role", role,
                                         "--password-stdin"], input=PASSWORDS[username] + "\n",
                               env={"SIWI_DATA_DIR": str(data_dir)})
        assert result.exit_code == 0, result.output


def indexed(data_dir: Path, embedder) -> Settings:
    settings = Settings(data_dir=data_dir, models_dir=MODELS_DIR, llm_model=SMALL_MODEL, llm_max_tokens=80,
                        office_hours="always", contact_appointment_url=APPOINTMENTS)
    index = build_index(settings, embedder)
    index.ingestor(settings).ingest([FIXTURES / "kb"])
    return settings


# --- clients ------------------------------------------------------------------------------------------

class Socket:
    """A real WebSocket client that reads frames until the one a test waits for."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    def send(self, **frame: Any) -> None:
        self.ws.send(json.dumps({"v": 1, **frame}))

    def recv(self, timeout: float = 180) -> dict[str, Any]:
        frame = json.loads(self.ws.recv(timeout=timeout))
        self.frames.append(frame)
        return frame

    def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            frame = self.recv(timeout=max(0.1, deadline - time.monotonic()))
            if predicate(frame):
                return frame

    def find(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 180) -> dict[str, Any]:
        """Like `until`, but a frame that already came (while waiting for another) counts too."""
        return next((f for f in self.frames if predicate(f)), None) or self.until(predicate, timeout)

    def expect(self, type_: str, timeout: float = 180, **fields: Any) -> dict[str, Any]:
        frame = self.until(lambda f: f["type"] == type_ or f["type"] == "error", timeout)
        assert frame["type"] == type_, frame
        for key, value in fields.items():
            assert frame[key] == value, (key, frame)
        return frame

    def quiet(self, seconds: float = 1.0) -> None:
        """Nothing arrives for a while."""
        with pytest.raises(TimeoutError):
            frame = self.recv(timeout=seconds)
            print("unexpected frame", frame)

    def close(self) -> None:
        self.ws.close()


class Citizen(Socket):
    def __init__(self, base: str, conversation_id: str | None = None, token: str | None = None,
                 after: int | None = None):
        params = {k: v for k, v in {"conversation_id": conversation_id, "resume_token": token,
                                    "after": after}.items() if v is not None}
        query = "&".join(f"{k}={v}" for k, v in params.items())
        super().__init__(connect(f"{base.replace('http', 'ws')}/ws/chat" + (f"?{query}" if query else ""),
                                 open_timeout=10, legacy=True))
        ready = self.recv()
        assert ready["type"] == "ready", ready
        self.conversation_id: str = ready["conversation_id"]
        self.ready_token: str | None = ready.get("resume_token")
        self.token = token

    def handoff(self, state: str, timeout: float = 60) -> dict[str, Any]:
        frame = self.until(lambda f: f["type"] in ("handoff", "error"), timeout)
        assert frame["type"] == "handoff" and frame["state"] == state, frame
        if frame.get("resume_token"):
            self.token = frame["resume_token"]
        return frame

    def ask(self, text: str, **fields: Any) -> dict[str, Any]:
        self.send(type="user_message", text=text, **fields)
        return self.expect("final")


class Staff:
    """A staff member's browser: session cookie, CSRF token, and the live inbox socket."""

    def __init__(self, base: str, username: str):
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=60)
        response = self.http.post("/staff/api/login", json={"username": username, "password": PASSWORDS[username]})
        assert response.status_code == 200, response.text
        self.csrf = response.json()["csrf_token"]
        self.cookie = self.http.cookies["siwi_staff"]

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post(path, json=body or {}, headers={"X-CSRF-Token": self.csrf})

    def socket(self, origin: str | None = None) -> Socket:
        ws = connect(f"{self.base.replace('http', 'ws')}/staff/ws", origin=origin or self.base,
                     additional_headers={"Cookie": f"siwi_staff={self.cookie}"}, open_timeout=10, legacy=True)
        socket = Socket(ws)
        assert socket.expect("hello")["staff"]["role"] in ("agent", "admin")
        return socket

    def close_all(self) -> None:
        for item in self.get("/staff/api/inbox").json():
            self.post(f"/staff/api/conversations/{item['id']}/close", {"note": "aufgeräumt"})


def conversation_event(cid: str, event: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["type"] == "conversation" and f["event"] == event and f["conversation"]["id"] == cid


@contextmanager
def on_duty(base: str, username: str = "muster") -> Iterator[tuple[Staff, Socket]]:
    staff = Staff(base, username)
    socket = staff.socket()
    socket.until(lambda f: f["type"] == "presence" and f["on_duty"])
    try:
        yield staff, socket
    finally:
        socket.close()
        wait_until(lambda: all(p["status"] != "available" for p in staff.get("/staff/api/staff").json()))


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# --- the in-process server (one per module) -----------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder, small_model):
    data = tmp_path_factory.mktemp("handoff")
    settings = indexed(data, embedder)
    add_accounts(data)
    index = build_index(settings, embedder)
    app = create_app(settings, index, build_pipeline(settings, index, small_model))
    with LiveServer(app) as live:
        Staff(live.http, "chefin").close_all()
        yield live


def test_request_queue_claim_live_exchange_both_ways_and_close(server):
    with on_duty(server.http) as (staff, inbox):
        citizen = Citizen(server.http)
        cid = citizen.conversation_id
        first = citizen.ask("Was kostet der Personalausweis für Personen ab 24 Jahren?", client_message_id="m-1")
        assert first["answer"]["outcome"] == "answered", first
        final = citizen.ask("Ich möchte bitte mit einem Menschen sprechen.", client_message_id="m-2")
        assert final["answer"]["outcome"] == "handoff"
        waiting = citizen.handoff("waiting")
        assert waiting["reason"] == "requested" and waiting["position"] == 1 and waiting["wait_minutes"] >= 1
        assert waiting["resume_token"] and "Position 1" in waiting["text"]

        queued = inbox.find(conversation_event(cid, "queued"))["conversation"]
        assert queued["state"] == "waiting" and queued["position"] == 1
        assert any(i["id"] == cid for i in staff.get("/staff/api/inbox").json())

        inbox.send(type="claim", conversation_id=cid, request_id="c-1")
        assert inbox.until(lambda f: f["type"] in ("ack", "error"))["type"] == "ack"
        assigned = citizen.handoff("assigned")
        assert assigned["text"] == "Frau Muster aus dem Team Bürgerservice ist jetzt für Sie da."
        assert assigned["staff_name"] == "Frau Muster" and assigned["team"] == "Bürgerservice"

        # staff → citizen over the staff socket, citizen → staff, staff → citizen over HTTP
        inbox.send(type="reply", conversation_id=cid, text="Guten Tag, wie kann ich Ihnen helfen?", request_id="r-1")
        ack = inbox.until(lambda f: f["type"] == "ack" and f["request_id"] == "r-1")
        message = citizen.expect("staff_message", text="Guten Tag, wie kann ich Ihnen helfen?", seq=ack["seq"])
        assert message["staff_name"] == "Frau Muster"
        citizen.send(type="user_message", text="Ich brauche einen Termin, es ist dringend.", client_message_id="m-3")
        delivered = citizen.expect("delivered", client_message_id="m-3")
        assert delivered["seq"] == ack["seq"] + 1
        assert not any(f["type"] in ("started", "final") for f in citizen.frames[-2:])  # not to the bot
        got = inbox.until(lambda f: f["type"] == "message" and f["message"]["role"] == "citizen")
        assert got["message"]["text"] == "Ich brauche einen Termin, es ist dringend."
        # the same message again (its `delivered` was lost with the connection): stored and shown once
        citizen.send(type="user_message", text="Ich brauche einen Termin, es ist dringend.", client_message_id="m-3")
        assert citizen.expect("delivered", client_message_id="m-3")["seq"] == delivered["seq"]  # (transcript below)
        reply = staff.post(f"/staff/api/conversations/{cid}/reply", {"text": "Morgen um 9 Uhr passt."})
        assert reply.status_code == 200, reply.text
        citizen.expect("staff_message", text="Morgen um 9 Uhr passt.", seq=reply.json()["seq"])

        # the transcript: the bot's answer with its citations, then everything else, in sequence
        detail = staff.get(f"/staff/api/conversations/{cid}").json()
        roles = [m["role"] for m in detail["messages"]]
        assert roles == ["citizen", "bot", "citizen", "bot", "system", "system", "staff", "citizen", "staff"]
        assert [m["seq"] for m in detail["messages"]] == list(range(1, 10))
        answer = detail["messages"][1]
        assert answer["outcome"] == "answered" and "37" in answer["text"]
        assert any(c["title"] == "Personalausweis beantragen" for c in answer["citations"])
        assert detail["assigned_to"] == "muster" and detail["language"] == "de"

        inbox.send(type="close", conversation_id=cid, note="Termin vereinbart", request_id="x-1")
        inbox.until(lambda f: f["type"] == "ack" and f["request_id"] == "x-1")
        closed = citizen.handoff("closed")
        assert closed["closed_by"] == "staff" and "beendet" in closed["text"]
        assert inbox.find(conversation_event(cid, "closed"))["conversation"]["close_note"] == "Termin vereinbart"
        assert all(i["id"] != cid for i in staff.get("/staff/api/inbox").json())

        # afterwards SiWi answers again
        after = citizen.ask("Wer hat die Relativitätstheorie erfunden?")
        assert after["answer"]["outcome"] in ("answered", "no_answer") and after["answer"]["text"]
        citizen.close()

    admin = Staff(server.http, "chefin")
    exported = admin.get("/staff/api/export/conversations", format="json").json()
    row = next(r for r in exported if r["id"] == cid)
    assert row["question"] == "Was kostet der Personalausweis für Personen ab 24 Jahren?"
    assert "37" in row["answer"] and row["close_note"] == "Termin vereinbart" and row["outcome"] == "handoff"
    assert any("Personalausweis beantragen" in s for s in row["sources"]) and len(row["messages"]) == 10
    csv_text = admin.get("/staff/api/export/conversations", format="csv").text
    assert cid in csv_text and "Termin vereinbart" in csv_text
    assert staff.get("/staff/api/export/conversations").status_code == 403  # agents may not export


def test_queue_positions_transfer_and_citizen_ends(server):
    with on_duty(server.http) as (staff, inbox):
        first, second = Citizen(server.http), Citizen(server.http)
        first.send(type="handoff_request")
        assert first.handoff("waiting")["position"] == 1
        second.send(type="handoff_request")
        waiting = second.handoff("waiting")
        assert waiting["position"] == 2 and waiting["reason"] == "button"
        second.send(type="handoff_request")  # pressing the button twice changes nothing
        assert second.handoff("waiting")["position"] == 2

        assert staff.post(f"/staff/api/conversations/{first.conversation_id}/claim").status_code == 200
        first.handoff("assigned")
        assert second.handoff("waiting")["position"] == 1  # moved up, and told so
        again = staff.post(f"/staff/api/conversations/{first.conversation_id}/claim")
        assert again.status_code == 409

        # transfer to a colleague, then back into the queue
        moved = staff.post(f"/staff/api/conversations/{first.conversation_id}/transfer",
                           {"to": "beispiel", "note": "Zuständig: Ordnungsamt"})
        assert moved.status_code == 200 and moved.json()["conversation"]["assigned_to"] == "beispiel"
        assert first.handoff("assigned")["text"] == "Herr Beispiel aus dem Team Ordnungsamt ist jetzt für Sie da."
        other = Staff(server.http, "beispiel")
        # muster no longer holds it: she may not reply; beispiel may
        assert staff.post(f"/staff/api/conversations/{first.conversation_id}/reply",
                          {"text": "Hallo"}).status_code == 403
        assert other.post(f"/staff/api/conversations/{first.conversation_id}/reply",
                          {"text": "Hier ist das Ordnungsamt."}).status_code == 200
        first.expect("staff_message", text="Hier ist das Ordnungsamt.", staff_name="Herr Beispiel")
        assert other.post(f"/staff/api/conversations/{first.conversation_id}/transfer", {"to": None}).status_code == 200
        assert first.handoff("waiting")["position"] == 2
        assert other.post(f"/staff/api/conversations/{first.conversation_id}/transfer",
                          {"to": "niemand"}).status_code == 404

        # the citizen ends it; staff see it go
        second.send(type="end_handoff")
        assert second.handoff("closed")["closed_by"] == "citizen"
        inbox.find(conversation_event(second.conversation_id, "closed"))
        assert first.handoff("waiting")["position"] == 1
        second.send(type="end_handoff")
        assert second.expect("error")["code"] == "not_in_handoff"
        staff.close_all()
        first.handoff("closed")
        first.close()
        second.close()


def test_always_human_topic_and_negative_feedback_go_to_staff(server):
    with on_duty(server.http) as (staff, inbox):
        citizen = Citizen(server.http)
        final = citizen.ask("Ich möchte mich über die lange Bearbeitungszeit beschweren.")
        assert final["answer"]["outcome"] == "handoff" and "Mitarbeiter" in final["answer"]["text"]
        assert citizen.handoff("waiting")["reason"] == "topic"
        queued = inbox.find(conversation_event(citizen.conversation_id, "queued"))["conversation"]
        assert queued["topic"] == "Beschwerde" and queued["reason"] == "topic"
        citizen.close()

        unhappy = Citizen(server.http)
        unhappy.ask("Wie hoch ist der Mount Everest?", client_message_id="q-1")
        unhappy.send(type="feedback", client_message_id="q-1", rating="down", comment="Hilft mir nicht")
        unhappy.expect("feedback_ack")
        assert unhappy.handoff("waiting")["reason"] == "feedback"
        listed = staff.get("/staff/api/feedback", rating="down").json()
        assert any(f["conversation_id"] == unhappy.conversation_id and f["comment"] == "Hilft mir nicht"
                   and f["question"] == "Wie hoch ist der Mount Everest?" for f in listed)
        unhappy.close()
        staff.close_all()


def test_two_no_answers_in_a_row_hand_over(server):
    with on_duty(server.http):
        citizen = Citizen(server.http)
        assert citizen.ask("Wer hat die Relativitätstheorie erfunden?")["answer"]["outcome"] == "no_answer"
        citizen.quiet(0.5)  # one miss is not enough
        assert citizen.ask("Welche Farbe hat der Himmel auf dem Mars?")["answer"]["outcome"] == "no_answer"
        assert citizen.handoff("waiting")["reason"] == "no_answer"
        citizen.close()
        Staff(server.http, "chefin").close_all()


def test_nobody_on_duty_offers_contact_and_a_callback_with_consent(server):
    citizen = Citizen(server.http)
    citizen.ask("Wie hoch ist der Mount Everest?")
    citizen.send(type="handoff_request")
    offline = citizen.handoff("offline")
    assert offline["callback_offered"] and offline["contact"]["appointment_url"] == APPOINTMENTS
    assert "niemand" in offline["text"] and "02799 333-0" in offline["text"]
    assert offline["resume_token"] in (None, citizen.ready_token)  # no handoff token: the conversation's own

    staff = Staff(server.http, "muster")
    before = len(staff.get("/staff/api/callbacks", state="open").json())
    citizen.send(type="callback_request", consent=False, phone="0271 12345", name="Erika Mustermann")
    assert "Einwilligung" in citizen.expect("error", code="consent_required")["message"]
    citizen.send(type="callback_request", consent=True, name="Erika Mustermann")
    citizen.expect("error", code="invalid_contact")
    citizen.send(type="callback_request", consent=True, email="keine-adresse")
    citizen.expect("error", code="invalid_contact")
    citizen.send(type="callback_request", consent="ja", phone="0271 12345")
    citizen.expect("error", code="invalid_message")
    assert len(staff.get("/staff/api/callbacks", state="open").json()) == before  # nothing stored

    with on_duty(server.http, "beispiel") as (_, inbox):
        citizen.send(type="callback_request", consent=True, phone="0271 12345", name="Erika Mustermann",
                     message="Bitte vormittags anrufen.")
        assert "Rückrufbitte" in citizen.expect("callback_received")["text"]
        pushed = inbox.until(lambda f: f["type"] == "callback")["callback"]
        assert pushed["phone"] == "0271 12345" and pushed["conversation_id"] == citizen.conversation_id
    callbacks = staff.get("/staff/api/callbacks", state="open").json()
    mine = next(c for c in callbacks if c["conversation_id"] == citizen.conversation_id)
    assert mine["name"] == "Erika Mustermann" and mine["consent_at"] and mine["message"] == "Bitte vormittags anrufen."
    assert mine["context"][0] == {"role": "citizen", "text": "Wie hoch ist der Mount Everest?"}
    done = staff.post(f"/staff/api/callbacks/{mine['id']}/done", {"note": "zurückgerufen"})
    assert done.status_code == 200 and done.json()["state"] == "done" and done.json()["done_by"] == "muster"
    assert staff.post(f"/staff/api/callbacks/{mine['id']}/done").status_code == 409

    # present but away counts as not on duty
    with on_duty(server.http) as (_, inbox):
        inbox.send(type="presence", status="away")
        inbox.until(lambda f: f["type"] == "presence" and not f["on_duty"])
        citizen.send(type="handoff_request")
        citizen.handoff("offline")
    citizen.close()

    # Before the first question, the texts follow the widget's language; the conversation's after that.
    english = Citizen(server.http)
    english.send(type="handoff_request", language="en")
    assert "nobody from our team" in english.handoff("offline")["text"]
    english.send(type="callback_request", consent=False, phone="0271 12345", language="en")
    assert "consent" in english.expect("error", code="consent_required")["message"]
    english.close()


def test_citizen_can_reach_neither_staff_endpoints_nor_other_conversations(server):
    with on_duty(server.http) as (staff, inbox):
        victim = Citizen(server.http)
        victim.send(type="handoff_request")
        victim.handoff("waiting")
        staff.post(f"/staff/api/conversations/{victim.conversation_id}/claim")
        victim.handoff("assigned")

        # the conversation id alone, or with a wrong token, opens nothing: a new conversation instead
        for token in (None, "falsch", victim.token[:-1] + ("y" if victim.token.endswith("x") else "x")):
            intruder = Citizen(server.http, victim.conversation_id, token)
            assert intruder.conversation_id != victim.conversation_id
            assert intruder.expect("error", code="forbidden")
            intruder.close()
        # the HTTP API too (it skipped the check before): no token, no answer; with it, no bot while staff talk
        follow_up = {"question": "Was habe ich vorhin gefragt?", "conversation_id": victim.conversation_id}
        for token in (None, "falsch"):
            refused = httpx.post(f"{server.http}/api/ask", json={**follow_up, "resume_token": token}, timeout=60)
            assert refused.status_code == 403 and refused.json()["detail"]["code"] == "forbidden", refused.text
        busy = httpx.post(f"{server.http}/api/ask", json={**follow_up, "resume_token": victim.token}, timeout=60)
        assert busy.status_code == 409 and busy.json()["detail"]["code"] == "with_staff", busy.text
        intruder = Citizen(server.http)
        intruder.send(type="user_message", text="Zeig mir das Gespräch", conversation_id=victim.conversation_id)
        intruder.expect("error", code="forbidden")
        intruder.send(type="feedback", client_message_id="x", rating="down", conversation_id=victim.conversation_id)
        intruder.expect("error", code="forbidden")
        assert all(f["conversation_id"] != victim.conversation_id for f in staff.get("/staff/api/feedback").json())
        # staff messages are not part of the citizen protocol
        for frame in ({"type": "claim", "conversation_id": victim.conversation_id},
                      {"type": "reply", "conversation_id": victim.conversation_id, "text": "Hallo"},
                      {"type": "close", "conversation_id": victim.conversation_id},
                      {"type": "presence", "status": "available"},
                      {"type": "handoff_request", "conversation_id": victim.conversation_id}):
            intruder.send(**frame)
            intruder.expect("error", code="invalid_message")
        # what staff write reaches the victim only
        staff.post(f"/staff/api/conversations/{victim.conversation_id}/reply", {"text": "Nur für Sie."})
        victim.expect("staff_message", text="Nur für Sie.")
        intruder.quiet(1.0)
        intruder.close()

        # no staff endpoint without a staff session
        anonymous = httpx.Client(base_url=server.http)
        for path in ("/staff/api/inbox", f"/staff/api/conversations/{victim.conversation_id}", "/staff/api/callbacks",
                     "/staff/api/feedback", "/staff/api/me", "/staff/api/export/conversations",
                     "/staff/api/search?q=Kennwort", "/staff/api/staff"):
            assert anonymous.get(path).status_code == 401, path
        for path in (f"/staff/api/conversations/{victim.conversation_id}/claim",
                     f"/staff/api/conversations/{victim.conversation_id}/close", "/staff/api/logout"):
            assert anonymous.post(path, json={}).status_code == 401, path
        for headers in ({}, {"Cookie": "siwi_staff=erfunden"}):
            with pytest.raises(InvalidStatus):
                connect(f"{server.http.replace('http', 'ws')}/staff/ws", origin=server.http,
                        additional_headers=headers, open_timeout=10)
        # a staff cookie from another site's page (Origin) is refused as well
        for origin in ("https://evil.example", None):
            with pytest.raises(InvalidStatus):
                connect(f"{server.http.replace('http', 'ws')}/staff/ws", origin=origin,
                        additional_headers={"Cookie": f"siwi_staff={staff.cookie}"}, open_timeout=10)
        victim.close()
        staff.close_all()


def test_staff_knowledge_search_covers_internal_documents(server):
    staff = Staff(server.http, "muster")
    found = staff.get("/staff/api/search", q="Dienstanweisung Chat-Übergabe Kennwort").json()["results"]
    internal = [r for r in found if r["visibility"] == "internal"]
    assert internal and "INTERN-GEHEIM-7Q4X" in internal[0]["text"]
    hit = internal[0]
    marked = [hit["snippet"][a:b].lower() for a, b in hit["highlights"]]
    assert marked and any(m.startswith(("dienstanweisung", "kennwort", "chat")) for m in marked), marked
    public = staff.get("/staff/api/search", q="Dienstanweisung Chat-Übergabe Kennwort", visibility="public").json()
    assert public["results"] and all(r["visibility"] == "public" for r in public["results"])
    only = staff.get("/staff/api/search", q="Personalausweis Kosten", visibility="internal").json()["results"]
    assert all(r["visibility"] == "internal" for r in only)
    fees = staff.get("/staff/api/search", q="Personalausweis Kosten", doc_type="service", k=3).json()["results"]
    assert fees and all(r["doc_type"] == "service" for r in fees)
    assert staff.get("/staff/api/search", q="").status_code == 422


def test_staff_ask_mode_answers_from_internal_documents_and_citizens_never_see_them(server):
    question = "Innerhalb welcher Zeit werden übernommene Chats laut Dienstanweisung beantwortet?"
    staff = Staff(server.http, "muster")
    assert staff.http.post("/staff/api/ask", json={"question": question}).status_code == 403  # no CSRF token
    assert httpx.post(f"{server.http}/staff/api/ask", json={"question": question}).status_code == 401
    response = staff.post("/staff/api/ask", {"question": question})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert any(r["title"] == "Dienstanweisung Chat-Übergabe" for r in answer["retrieved"]), answer["retrieved"]
    assert answer["outcome"] in ("answered", "no_answer")
    if answer["outcome"] == "answered":  # whatever the small model wrote, only checked sentences are shown
        assert all(c["visibility"] in ("public", "internal") for c in answer["citations"])
        assert all(s["verdict"] in ("supported", "fixed", "quoted", "neutral") or s["text"] not in answer["text"]
                   for s in answer["sentences"])
    citizen = httpx.post(f"{server.http}/api/ask", json={"question": question}, timeout=300).json()["answer"]
    assert all(r["title"] != "Dienstanweisung Chat-Übergabe" for r in citizen["retrieved"])
    assert "INTERN-GEHEIM-7Q4X" not in citizen["text"]
    assert staff.post("/staff/api/ask", {"question": " "}).status_code == 422


# --- a real restart of the service process ------------------------------------------------------------

@contextmanager
def siwi_serve(data_dir: Path, port: int, log: Path, hard_stop: bool = False, verbose: bool = False,
               **settings: str) -> Iterator[str]:
    """`siwi serve` as a child process; stopped with SIGKILL (a crash) or SIGTERM at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIWI_")}
    env.update(SIWI_DATA_DIR=str(data_dir), SIWI_MODELS_DIR=str(MODELS_DIR), SIWI_LLM_MODEL=SMALL_MODEL,
               SIWI_OFFICE_HOURS="always", SIWI_LLM_MAX_TOKENS="80", **settings)
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "siwi.cli", *(["-v"] if verbose else []), "serve",
                                    "--port", str(port)],
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        yield base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if hard_stop else signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def test_restart_loses_nothing(tmp_path_factory, embedder):
    data = tmp_path_factory.mktemp("restart")
    indexed(data, embedder)
    add_accounts(data)
    log = data / "serve.log"

    with siwi_serve(data, free_port(), log, hard_stop=True) as base:
        staff = Staff(base, "muster")
        inbox = staff.socket()
        talking, waiting = Citizen(base), Citizen(base)
        talking.send(type="handoff_request")
        talking.handoff("waiting")
        waiting.send(type="handoff_request")
        assert waiting.handoff("waiting")["position"] == 2
        assert staff.post(f"/staff/api/conversations/{talking.conversation_id}/claim").status_code == 200
        talking.handoff("assigned")
        seen = staff.post(f"/staff/api/conversations/{talking.conversation_id}/reply",
                          {"text": "Erste Antwort"}).json()["seq"]
        talking.expect("staff_message", text="Erste Antwort", seq=seen)
        talking.send(type="user_message", text="Frage vor dem Neustart", client_message_id="m-1")
        talking.expect("delivered")
        talking.close()
        missed = staff.post(f"/staff/api/conversations/{talking.conversation_id}/reply",
                            {"text": "Antwort, während Sie weg waren"})
        assert missed.status_code == 200
        cookie, csrf = staff.cookie, staff.csrf
    # the first process was killed (SIGKILL): nothing was shut down cleanly
    for socket in (inbox, waiting):
        with pytest.raises((ConnectionClosed, TimeoutError, OSError)):
            while True:
                socket.recv(timeout=5)

    with siwi_serve(data, free_port(), log) as base:
        staff.base, staff.http = base, httpx.Client(base_url=base, timeout=60, cookies={"siwi_staff": cookie})
        assert staff.get("/staff/api/me").json()["csrf_token"] == csrf  # the session survived too
        inbox = staff.socket()
        hello = inbox.frames[-1]
        states = {c["id"]: c for c in hello["inbox"]}
        assert states[talking.conversation_id]["state"] == "assigned"
        assert states[talking.conversation_id]["assigned_to"] == "muster"
        assert (states[waiting.conversation_id]["state"], states[waiting.conversation_id]["position"]) == ("waiting", 1)

        # the waiting citizen is still waiting
        back = Citizen(base, waiting.conversation_id, waiting.token)
        assert back.conversation_id == waiting.conversation_id
        assert back.handoff("waiting")["position"] == 1

        # the other gets exactly the message they missed, then the state — nothing twice
        again = Citizen(base, talking.conversation_id, talking.token, after=seen)
        assert again.conversation_id == talking.conversation_id
        missed_frame = again.expect("staff_message")
        assert missed_frame["text"] == "Antwort, während Sie weg waren" and missed_frame["seq"] == missed.json()["seq"]
        assert again.handoff("assigned")["staff_name"] == "Frau Muster"
        again.quiet(0.5)

        # and the live exchange goes on
        staff.post(f"/staff/api/conversations/{talking.conversation_id}/reply", {"text": "Nach dem Neustart"})
        again.expect("staff_message", text="Nach dem Neustart")
        again.send(type="user_message", text="Danke!")
        again.expect("delivered")
        inbox.until(lambda f: f["type"] == "message" and f["message"]["text"] == "Danke!")

        transcript = staff.get(f"/staff/api/conversations/{talking.conversation_id}").json()["messages"]
        assert [m["seq"] for m in transcript] == list(range(1, len(transcript) + 1))
        assert [m["text"] for m in transcript if m["role"] != "system"] == [
            "Erste Antwort", "Frage vor dem Neustart", "Antwort, während Sie weg waren", "Nach dem Neustart", "Danke!"]

        again.send(type="end_handoff")
        assert again.handoff("closed")["closed_by"] == "citizen"
        inbox.find(conversation_event(talking.conversation_id, "closed"))
        for socket in (again, back, inbox):
            socket.close()
