"""The Munich service catalogue (../shared/corpus/munich-services) mapped onto service descriptions and
ingested with the real embedder into a real Chroma store; plus the service schema it shares with YAML/JSON
service files. Tests that read the export are marked `shared` and skip without ../shared."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.services import Index, build_index
from knowledge.chunking import Chunker
from knowledge.documents import Document
from knowledge.loaders import LoadError
from knowledge.munich import MunichSource, office_from_location, read_export, service_from_record
from knowledge.services import ServiceDescription, ServiceFileError, load_service_file, service_json_schema
from knowledge.sources import Failed, MunichConfig
from siwi.settings import Settings
from tests.conftest import FIXTURES, MODELS_DIR, SHARED

MUNICH = SHARED / "corpus" / "munich-services"
GEWERBE_ANMELDUNG = "1063423"
# A small index with near neighbours: six trade services share the Gewerbeamt and quote similar fees.
INDEXED = [GEWERBE_ANMELDUNG, "1063422", "1063435", "1063525", "1063659", "1063684", "1063689",  # Gewerbe…
           "1063519", "1063655", "1063731", "1063755", "1063428", "1063699"]  # Fundsache, Sterbeurkunde, …


def export_records() -> list[dict[str, Any]]:
    if not MUNICH.is_dir():
        pytest.skip(f"{MUNICH} is absent (a fresh clone has no ../shared; CI has it)")
    return json.loads((MUNICH / "services_de.json").read_text(encoding="utf-8"))["data"]


def write_export(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"meta": {"datacount": len(records)}, "data": records}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def source(services: Path, locations: Path | None = MUNICH / "locations_de.json") -> MunichSource:
    return MunichSource(MunichConfig(type="munich", name="munich", services=services, locations=locations))


def pick(records: list[dict[str, Any]], ids: list[str]) -> list[dict[str, Any]]:
    by_id = {r["id"]: r for r in records}
    return [by_id[i] for i in ids]


@pytest.fixture(scope="module")
def munich_index(tmp_path_factory: pytest.TempPathFactory, embedder) -> tuple[Settings, Index, Path]:
    records = pick(export_records(), INDEXED)
    folder = tmp_path_factory.mktemp("munich")
    with pytest.MonkeyPatch.context() as env:
        for key in [k for k in os.environ if k.startswith("SIWI_")]:
            env.delenv(key)
        settings = Settings(data_dir=folder / "data", models_dir=MODELS_DIR)
    index = build_index(settings, embedder)
    services = write_export(folder / "services.json", records)
    report = index.ingestor(settings).ingest_source(source(services))
    assert len(report.added) == len(INDEXED) and not report.failed, report.summary()
    return settings, index, services


# --- mapping, without embedding -----------------------------------------------------------------------------


@pytest.mark.shared
def test_every_service_is_mapped_or_fails_with_a_reason():
    munich = source(MUNICH / "services_de.json")
    items = list(munich.items({}))
    documents = [i for i in items if isinstance(i, Document)]
    failed = [i for i in items if isinstance(i, Failed)]
    assert len(items) == munich.estimate() == len(export_records())
    assert len(documents) > 0.95 * len(items)
    assert all(f.source_id.startswith("munich:") and "nothing to index" in f.reason for f in failed)
    for document in documents:
        assert document.doc_type == "service" and document.url.startswith("https://")
        assert document.url.endswith("/" + document.extra["service_id"])
        assert document.source_id == "munich:" + document.extra["service_id"]
        assert not any(tag in document.text for tag in ("<p>", "<li>", "<br", "&nbsp;", "&amp;", "\u200b"))
    assert sum("leika" in d.extra for d in documents) > 100


@pytest.mark.shared
def test_fees_offices_forms_and_online_service_are_mapped():
    records = {r["id"]: r for r in export_records()}
    offices = {str(o["id"]): office_from_location(o) for o in read_export(MUNICH / "locations_de.json")}
    # Fahrschulerlaubnis: fees as a list with line breaks inside an item.
    driving_school = service_from_record(records["1064377"], offices={})
    assert driving_school.kosten[0].startswith("Fahrschulerlaubnis:\nNatürliche Personen: 102 Euro")
    assert driving_school.kosten[1] == "Zweigstellenerlaubnis: 84,40 Euro"
    # Gewerbe-Anmeldung: one office with address, phone, fax and e-mail; LeiKa key; URL from the export's pattern.
    trade = service_from_record(records[GEWERBE_ANMELDUNG], offices)
    assert trade.leika == "99050012104000"
    assert trade.url == ("https://stadt.muenchen.de/en/buergerservice/terminvereinbarung.html/#/services/"
                         + GEWERBE_ANMELDUNG)
    assert trade.kosten == ["50 bis 60 Euro (abhängig von der Rechtsform)"]
    [office] = trade.offices
    assert office.name == "Gewerbeamt (Kreisverwaltungsreferat)" and office.fax
    assert office.anschrift == "Implerstraße 11, 81371 München" and office.telefon and office.email
    assert "1. Anmeldung starten\n2. Mit BayernID anmelden" in trade.kurztext + "\n\n" + (trade.volltext or "")
    # Neuzulassung: forms and links (the same list in this export) once each; the portal link is the online service.
    car = service_from_record(records["1063425"], offices)
    assert car.online_dienst is not None and "buergerservice" in car.online_dienst.url
    urls = [f.url for f in car.formulare]
    assert len(urls) == len(set(urls)) and car.online_dienst.url not in urls


@pytest.mark.shared
def test_each_chunk_carries_service_field_leika_and_url():
    [document] = [d for d in source(MUNICH / "services_de.json").items({})
                  if d.source_id == "munich:" + GEWERBE_ANMELDUNG]
    chunks = Chunker(700, 100).split(document)
    assert {c.headings[-1] for c in chunks} >= {"Beschreibung", "Kosten und Gebühren", "Zuständige Stelle"}
    for chunk in chunks:
        meta = chunk.metadata()
        assert chunk.text.startswith(f"Gewerbe-Anmeldung > {chunk.headings[-1]}\n")
        assert meta["headings"] == f"Gewerbe-Anmeldung > {chunk.headings[-1]}"
        assert meta["x_leika"] == "99050012104000" and meta["url"] == document.url
        assert meta["x_service_id"] == GEWERBE_ANMELDUNG and meta["doc_type"] == "service"


def test_a_broken_export_is_one_clear_error(tmp_path: Path):
    broken = tmp_path / "services_de.json"
    broken.write_text('{"data": [{"id": "1", "name": "Reisepass"', encoding="utf-8")
    with pytest.raises(LoadError, match=r"services_de\.json: not valid JSON: .* \(line 1, column \d+\)") as exc:
        source(broken, None).estimate()
    assert "\n" not in str(exc.value)
    with pytest.raises(LoadError, match="missing.json"):
        list(source(tmp_path / "missing.json", None).items({}))
    broken.write_text('{"services": []}', encoding="utf-8")
    with pytest.raises(LoadError, match="expected an object with a 'data' list"):
        source(broken, None).estimate()
    good = write_export(tmp_path / "ok.json", [])
    (tmp_path / "locations.json").write_text("[", encoding="utf-8")
    with pytest.raises(LoadError, match="locations.json: not valid JSON"):
        source(good, tmp_path / "locations.json").estimate()


def test_a_record_without_content_or_id_fails_alone(tmp_path: Path):
    records = [
        {"id": "1", "name": "Hundesteuer", "description": "<p>Hunde sind anzumelden.</p>", "fees": "<p>120 Euro</p>",
         "meta": {"url": "https://www.stadt.example/#/services/{serviceId}", "lastupdate": "2026-03-01T08:00:00"}},
        {"id": "2", "name": "Leer", "description": "", "meta": {"url": "https://www.stadt.example/x"}},
        {"name": "Ohne Kennung"},
        {"id": "3", "name": "Ohne Adresse", "description": "<p>Text</p>"},
        "kein Objekt",
    ]
    items = list(source(write_export(tmp_path / "s.json", records), None).items({}))
    [document] = [i for i in items if isinstance(i, Document)]
    assert document.url == "https://www.stadt.example/#/services/1" and document.last_modified == "2026-03-01"
    reasons = {i.source_id: i.reason for i in items if isinstance(i, Failed)}
    assert "nothing to index" in reasons["munich:2"] and "no URL" in reasons["munich:3"]
    assert sum("has no id" in reason for reason in reasons.values()) == 2


# --- ingest and retrieval with the real embedder ------------------------------------------------------------


@pytest.mark.shared
def test_fee_question_retrieves_the_fee_chunk_of_the_right_service(munich_index):
    settings, index, _ = munich_index
    retriever = index.retriever(settings)
    top = retriever.retrieve("Was kostet die Gewerbe-Anmeldung?", k=3)[0]
    assert top.headings == "Gewerbe-Anmeldung > Kosten und Gebühren" and "50 bis 60 Euro" in top.text
    assert top.url.endswith("/services/" + GEWERBE_ANMELDUNG)
    assert index.store.get([top.chunk_id])[0].metadata["x_leika"] == "99050012104000"
    for question, service in [("Was kostet eine Sterbeurkunde?", "Sterbeurkunde"),
                              ("Was kostet der Kirchenaustritt?", "Kirchenaustritt"),
                              ("Was kostet die Gewerbe-Abmeldung?", "Gewerbe-Abmeldung")]:
        headings = [p.headings for p in retriever.retrieve(question, k=3)]
        assert f"{service} > Kosten und Gebühren" in headings, (question, headings)


@pytest.mark.shared
def test_office_question_retrieves_the_office(munich_index):
    settings, index, _ = munich_index
    retriever = index.retriever(settings)
    top = retriever.retrieve("Wo ist das Fundbüro?", k=3)[0]
    assert top.headings == "Fundsache abholen > Zuständige Stelle"
    assert "Fundbüro" in top.text and "Implerstraße 11, 81371 München" in top.text
    top = retriever.retrieve("Welche Telefonnummer hat das Gewerbeamt?", k=3)[0]
    assert top.headings.endswith("> Zuständige Stelle") and "Telefon: 089 233-45141" in top.text


@pytest.mark.shared
def test_reingest_is_unchanged_and_writes_nothing(munich_index):
    settings, index, services = munich_index
    count = index.store.count()
    again = index.ingestor(settings).ingest_source(source(services))
    assert len(again.unchanged) == len(INDEXED) and again.chunks_written == 0 and not again.added
    assert index.store.count() == count


@pytest.mark.shared
def test_unmappable_service_fails_alone_and_prune_removes_a_dropped_service(settings, embedder, tmp_path: Path):
    fees, church, fireworks = pick(export_records(), ["1063655", "1063731", "1063755"])
    nameless = {k: v for k, v in fireworks.items() if k != "name"}
    index = build_index(settings, embedder)
    ingestor = index.ingestor(settings)
    services = tmp_path / "services.json"

    first = ingestor.ingest_source(source(write_export(services, [fees, church, nameless])))
    assert sorted(first.added) == ["munich:1063655", "munich:1063731"]
    [(failed_id, reason)] = first.failed
    assert failed_id == "munich:1063755" and "name" in reason and "\n" not in reason

    pruned = ingestor.ingest_source(source(write_export(services, [fees, nameless])), prune=True)
    assert pruned.removed == ["munich:1063731"] and pruned.unchanged == ["munich:1063655"]
    assert index.store.ids_for_source("munich:1063731") == []
    hits = index.retriever(settings).retrieve("Was kostet der Kirchenaustritt?", k=5)
    assert hits and all(not h.headings.startswith("Kirchenaustritt") for h in hits)


# --- the service schema, shared with YAML and JSON service files --------------------------------------------


def test_json_service_file_reads_like_the_yaml_one(tmp_path: Path):
    yaml_path = FIXTURES / "kb" / "personalausweis.yaml"
    json_path = tmp_path / "personalausweis.json"
    json_path.write_text(json.dumps(yaml.safe_load(yaml_path.read_text(encoding="utf-8")), default=str,
                                    ensure_ascii=False), encoding="utf-8")
    from_yaml, from_json = load_service_file(yaml_path, "x"), load_service_file(json_path, "x")
    assert from_json.sections == from_yaml.sections and from_json.hash == from_yaml.hash


def test_broken_json_service_file_names_the_file_in_one_line(tmp_path: Path):
    path = tmp_path / "kaputt.json"
    path.write_text('{"id": "kaputt", "name": ', encoding="utf-8")
    with pytest.raises(ServiceFileError, match=r"kaputt\.json: not valid JSON") as exc:
        load_service_file(path, "x")
    path.write_text('{"id": "kaputt", "name": "Kaputt"}', encoding="utf-8")
    assert "\n" not in str(exc.value)
    with pytest.raises(ServiceFileError, match=r"kaputt\.json: not a valid service description: url: Field required"
                       ) as second:
        load_service_file(path, "x")
    assert "\n" not in str(second.value)


def test_service_json_schema_names_required_fields_and_german_labels():
    schema = service_json_schema()
    assert set(schema["required"]) == {"id", "name", "url", "kurztext"}
    assert schema["properties"]["kosten"]["title"] == "Kosten und Gebühren"
    assert schema["properties"]["zustaendige_stelle"]["title"] == "Zuständige Stelle"


def test_the_documented_examples_are_valid():
    text = (Path(__file__).resolve().parent.parent / "docs" / "service-schema.md").read_text(encoding="utf-8")
    yaml_example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    json_example = text.split("```json\n", 1)[1].split("```", 1)[0]
    service = ServiceDescription.model_validate(yaml.safe_load(yaml_example))
    assert all(getattr(service, field) for field in ServiceDescription.model_fields if field != "visibility")
    assert len(ServiceDescription.model_validate(json.loads(json_example)).offices) == 2
