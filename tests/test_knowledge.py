"""Sources → documents → chunks, with real files."""

from pathlib import Path

import pytest

from knowledge.chunking import Chunker
from knowledge.loaders import LoadError, SourceFile, discover, load_file
from tests.conftest import FIXTURES

KB = FIXTURES / "kb"


def load(name: str):
    path = KB / name
    return load_file(SourceFile(path, path.resolve().as_posix()))


def test_markdown_front_matter_and_heading_path():
    doc = load("hundesteuer.md")
    assert doc.title == "Hundesteuer in Lindenau"
    assert doc.url == "https://www.kreis-lindenau.example/hundesteuer"
    assert doc.visibility == "public"
    assert [s.headings for s in doc.sections] == [("Hundesteuer in Lindenau", "Höhe der Steuer"),
                                                   ("Hundesteuer in Lindenau", "Anmeldung")]


def test_internal_visibility_is_read_from_front_matter():
    assert load("intern-dienstanweisung.md").visibility == "internal"


def test_html_keeps_main_content_and_drops_boilerplate():
    doc = load("oeffnungszeiten.html")
    text = doc.text
    assert "Donnerstag zusätzlich: 14:00 bis 17:30 Uhr" in text
    assert "24. und 31. Dezember" in text
    for boilerplate in ("Cookies", "Alle akzeptieren", "Impressum", "Startseite", "Politik"):
        assert boilerplate not in text
    assert any("Schließtage" in s.headings for s in doc.sections)


def test_service_description_becomes_one_section_per_field():
    doc = load("personalausweis.yaml")
    assert doc.doc_type == "service"
    labels = [s.headings[-1] for s in doc.sections]
    assert labels == ["Beschreibung", "Erforderliche Unterlagen", "Kosten und Gebühren", "Bearbeitungsdauer",
                      "Hinweise", "Zuständige Stelle"]
    fees = next(s for s in doc.sections if s.headings[-1] == "Kosten und Gebühren")
    assert "22,80 Euro" in fees.text and fees.headings[0] == "Personalausweis beantragen"


def test_broken_service_file_names_the_file():
    path = FIXTURES / "broken-service.yaml"
    with pytest.raises(LoadError, match="broken-service.yaml"):
        load_file(SourceFile(path, str(path)))


def test_cp1252_text_is_decoded_without_loss(tmp_path: Path):
    path = tmp_path / "alt.txt"
    path.write_bytes("Gebühren für Führerscheine".encode("cp1252"))
    assert load_file(SourceFile(path, str(path))).text == "Gebühren für Führerscheine"


@pytest.mark.parametrize(("text", "title"), [
    ("18. Oktober 2023\nKreistag verabschiedet Digitalisierungsstrategie der Kreisverwaltung Paderborn\nText.",
     "Kreistag verabschiedet Digitalisierungsstrategie der Kreisverwaltung Paderborn"),
    ("Inhalt\nDatum: 27.02.2025\n\nSechs Bausteine für die Digitale Zukunft\nText.",
     "Sechs Bausteine für die Digitale Zukunft"),
    ("Hundesteuer\nDie Hundesteuer beträgt 96 Euro im Jahr.", "Hundesteuer"),
    ("04.06.2020\n", "04.06.2020"),  # nothing better on the page: its first line
])
def test_a_text_file_is_titled_by_its_first_line_that_reads_like_a_title(tmp_path: Path, text: str, title: str):
    """A press page's first line is often its date or a "Inhalt" label; the title is every chunk's context."""
    path = tmp_path / "seite.txt"
    path.write_text(text, encoding="utf-8")
    assert load_file(SourceFile(path, str(path))).title == title


def test_discover_skips_unsupported_and_rejects_missing(tmp_path: Path):
    (tmp_path / "a.md").write_text("# A\ntext")
    (tmp_path / "b.exe").write_bytes(b"MZ")
    assert [s.path.name for s in discover([tmp_path])] == ["a.md"]
    with pytest.raises(LoadError, match="no such file"):
        list(discover([tmp_path / "missing"]))


def test_chunks_carry_heading_path_and_respect_size():
    doc = load("hundesteuer.md")
    chunks = Chunker(chunk_size=120, chunk_overlap=0).split(doc)
    assert all(c.text.startswith("Hundesteuer in Lindenau > ") for c in chunks)
    assert all(len(c.text.split("\n", 1)[1]) <= 120 for c in chunks)
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_chunker_does_not_cut_german_abbreviations_or_dates():
    from knowledge.documents import Document, Section

    text = ("Seit dem 17. März 2020 ist das Portal online, z. B. für Anträge nach Nr. 5 der Satzung. "
            "Die Gebühr beträgt 30 Euro. Weitere Angaben stehen im Merkblatt.")
    doc = Document("x", "T", (Section(("T",), text),))
    pieces = [c.text.split("\n", 1)[1] for c in Chunker(chunk_size=90, chunk_overlap=0).split(doc)]
    joined = "|".join(pieces)
    for phrase in ("17. März 2020", "z. B. für", "Nr. 5"):
        assert phrase in joined, joined


def test_chunks_keep_the_source_text_and_nothing_else():
    """Every chunk body is a run of the section text: no separator patterns or markup glued in."""
    path = Path(__file__).resolve().parent.parent / "knowledge" / "sample" / "services" / "kfz-zulassung.yaml"
    document = load_file(SourceFile(path, "kfz"))
    chunks = Chunker(chunk_size=300, chunk_overlap=50).split(document)
    assert len(chunks) > len(document.sections)  # some sections were split
    sections = {s.headings: " ".join(s.text.split()) for s in document.sections}
    for chunk in chunks:
        heading, body = chunk.text.split("\n", 1)
        assert heading == " > ".join(chunk.headings)
        assert "(?" not in body and "\\n" not in body and "\\s" not in body
        assert " ".join(body.split()) in sections[chunk.headings], body


def test_changing_the_chunk_size_changes_the_index_hash():
    path = FIXTURES / "kb" / "hundesteuer.md"
    document = load_file(SourceFile(path, "hund"))
    assert Chunker(700, 100).index_hash(document) != Chunker(500, 100).index_hash(document)
    assert Chunker(700, 100).index_hash(document) == Chunker(700, 100).index_hash(document)
