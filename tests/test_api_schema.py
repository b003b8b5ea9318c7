"""The HTTP API against its own OpenAPI document (issue 16): schemathesis generates requests from the running
server's /openapi.json — valid and deliberately invalid ones, for every operation — and every answer must be
no server error (5xx), carry a status code that the document declares for that operation, and, where the
document gives a schema for it, a body of that schema. Real uvicorn on 127.0.0.1, the real small model, a real
Chroma store and a real staff database. Examples are bounded and derandomized: CI sends the same requests
every time, and the file takes a few minutes. A failure prints the failed checks, the response and a curl
command that reproduces the request."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from bot.app import create_app
from bot.services import build_index, build_pipeline
from tests.conftest import FIXTURES, LiveServer
from tests.test_staff_auth import PASSWORD, Session, settings_for, staff_cli

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Per operation: up to 30 generated cases, plus schemathesis' explicit and boundary ("coverage") cases.
# A slow machine is no finding: Hypothesis' health checks (too slow, too much filtered) are off.
BOUNDED = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))
SEEN: Counter[tuple[str, str, int]] = Counter()
"""(run, operation, status code) → responses; summarized when the server stops (pytest -s shows it)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder, small_model):
    """SiWi on the knowledge-base fixture with an admin account (exports need one) and short answers: the
    model runs for every valid question that reaches /api/ask or /staff/api/ask."""
    data = tmp_path_factory.mktemp("api-schema")
    assert staff_cli(data, "add", "chef", "--name", "Frau Chef", "--role", "admin", password=PASSWORD).exit_code == 0
    config = settings_for(data, llm_max_tokens=16)
    index = build_index(config, embedder)
    index.ingestor(config).ingest([FIXTURES / "kb"])
    with LiveServer(create_app(config, index, build_pipeline(config, index, small_model))) as live:
        live.session = Session(live.http, "chef")  # before the fuzzed logins throttle this address
        live.auth = {"Cookie": f"siwi_staff={live.session.cookie}", "X-CSRF-Token": live.session.csrf}
        yield live
    if SEEN:
        print(f"\nschemathesis {schemathesis.__version__}: {sum(SEEN.values())} requests")
        for (run, label, status), count in sorted(SEEN.items()):
            print(f"  {run:10} {label:55} {status}: {count}")


@pytest.fixture(scope="module")
def api(server):
    # Fixed seed (with derandomize) for the same requests on every run; reproductions print real values.
    config = schemathesis.Config.from_dict({"seed": 16, "request-timeout": 120,
                                           "output": {"sanitization": {"enabled": False}}})
    return schemathesis.openapi.from_url(f"{server.http}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api")


@pytest.fixture(autouse=True)
def _pytest_9_2_node_id(request):
    """schemathesis 4.32's lazy schema reads and renames `item._nodeid`, which pytest 9.2 no longer has (the
    node id is `item._id` there). Without this, every test here fails at once with an AttributeError."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


def validate(case, run: str, headers: dict[str, str] | None = None):
    response = case.call_and_validate(checks=CHECKS, headers=headers)
    SEEN[(run, case.operation.label, response.status_code)] += 1
    return response


@BOUNDED
@schema.parametrize()
def test_every_operation_signed_out(case):
    """Citizen routes as a citizen calls them; staff routes without a session: refused (401), or the request
    is not one at all (unreadable body, invalid parameters, wrong method) — never an answer."""
    response = validate(case, "signed out")
    if case.path.startswith("/staff/") and case.path != "/staff/api/login":
        assert response.status_code in (400, 401, 405, 422), f"{case.method} {case.formatted_path}: {response.text}"


@BOUNDED
@schema.include(path_regex="^/staff/").exclude(path="/staff/api/logout").parametrize()
def test_staff_operations_signed_in(case, server):
    """Staff routes with an admin's session cookie and CSRF token (logout would end the session: left out)."""
    validate(case, "signed in", server.auth)


EDGES = [  # requests that bounded fuzzing may miss: (operation, the case's parts)
    ("POST /staff/api/ask", {"body": {"question": "   "}}),  # 422 with {code, message}, not FastAPI's list
    ("GET /staff/api/search", {"query": {"q": " "}}),  # likewise
    ("POST /staff/api/callbacks/{callback_id}/done",  # was a 500 (OverflowError in SQLite); now 422
     {"path_parameters": {"callback_id": 2**63}, "body": {}}),
    ("POST /api/ask", {"body": {"question": " "}}),
    ("POST /api/ask", {"body": {"question": "x" * 2001}}),
]


@pytest.mark.parametrize(("label", "parts"), EDGES, ids=[f"{n}-{label}" for n, (label, _) in enumerate(EDGES)])
def test_edge_cases(api, server, label, parts):
    response = validate(api.find_operation_by_label(label).Case(**parts), "edge", server.auth)
    assert response.status_code == 422, response.text
