"""PDF and Word files → documents, from disk and from bytes (as the crawler gets them), with real files
generated here: a hand-written text PDF, a blank "scanned" one, an encrypted one, and a .docx."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from bot.services import build_index
from knowledge.loaders import LoadError, SourceFile, discover, docx_document, load_file, pdf_document
from tests.conftest import FIXTURES


def _pdf_string(line: str) -> bytes:
    """A PDF literal string in WinAnsiEncoding: umlauts as octal escapes, parentheses escaped."""
    out = bytearray()
    for byte in line.encode("cp1252"):
        char = chr(byte)
        out += f"\\{byte:03o}".encode() if byte > 126 or char in "()\\" else char.encode()
    return bytes(out)


def text_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A minimal valid PDF with Helvetica text, one list of lines per page (written by hand: no PDF library
    in the project draws text)."""
    objects: list[bytes] = [b"", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                            b"/Encoding /WinAnsiEncoding >>"]
    page_ids = []
    for lines in pages:
        body = b"BT /F1 12 Tf 14 TL 72 760 Td " + b" ".join(b"(" + _pdf_string(line) + b") Tj T*" for line in lines)
        body += b" ET"
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(body), body))
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R "
                       b">> >> /Contents %d 0 R >>" % len(objects))
        page_ids.append(len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % i for i in page_ids),
                                                               len(page_ids))
    info = None
    if title:
        objects.append(b"<< /Title (" + _pdf_string(title) + b") >>")
        info = len(objects)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = b"/Size %d /Root 1 0 R" % (len(objects) + 1) + (b" /Info %d 0 R" % info if info else b"")
    out += b"trailer\n<< " + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


MERKBLATT = [["Merkblatt Wohngeld", "Wohngeld ist ein Zuschuss zur Miete für Haushalte mit geringem Einkommen.",
              "Den Antrag stellen Sie bei der Wohngeldstelle im Kreishaus, Zimmer 214."],
             ["Erforderliche Unterlagen", "Mietvertrag, Einkommensnachweise der letzten zwölf Monate, Personalausweis.",
              "Die Bearbeitung dauert in der Regel sechs Wochen."]]


def scanned_pdf() -> bytes:
    """What a scanner without OCR produces, as far as text goes: pages without any text."""
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_blank_page(595, 842)
    return _write(writer)


def encrypted_pdf(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(MERKBLATT))))
    # RC4 needs no optional crypto package; AES would need `cryptography`.
    writer.encrypt(user_password=user_password, owner_password="verwaltung-intern", algorithm="RC4-128")
    return _write(writer)


def _write(writer: PdfWriter) -> bytes:
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def word_file() -> bytes:
    document = docx.Document()
    document.core_properties.title = "Gebührenordnung Kfz-Zulassungsstelle"
    document.add_paragraph("Diese Übersicht gilt ab 1. Januar 2025.")
    document.add_heading("Zulassung", level=1)
    document.add_paragraph("Die Zulassung eines Fahrzeugs erfolgt nur mit Termin.")
    document.add_heading("Gebühren", level=2)
    table = document.add_table(rows=3, cols=2)
    for row, (service, fee) in zip(table.rows, [("Leistung", "Gebühr"), ("Neuzulassung", "27,90 Euro"),
                                                ("Abmeldung", "6,90 Euro")], strict=True):
        row.cells[0].text, row.cells[1].text = service, fee
    document.add_heading("Wunschkennzeichen", level=1)
    document.add_paragraph("Ein Wunschkennzeichen kostet zusätzlich 12,80 Euro.", style="List Bullet")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def load(path: Path):
    return load_file(SourceFile(path, path.resolve().as_posix()))


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "dokumente"
    folder.mkdir()
    (folder / "merkblatt-wohngeld.pdf").write_bytes(text_pdf(MERKBLATT, title="Merkblatt Wohngeld 2025"))
    (folder / "gebuehren.docx").write_bytes(word_file())
    return folder


def test_pdf_text_title_and_one_section_per_page(files: Path):
    doc = load(files / "merkblatt-wohngeld.pdf")
    assert doc.doc_type == "pdf" and doc.title == "Merkblatt Wohngeld 2025"
    assert [s.headings for s in doc.sections] == [("Merkblatt Wohngeld 2025", "Seite 1"),
                                                  ("Merkblatt Wohngeld 2025", "Seite 2")]
    assert "Zuschuss zur Miete für Haushalte" in doc.sections[0].text
    assert "zwölf Monate" in doc.sections[1].text
    assert doc.path == str(files / "merkblatt-wohngeld.pdf") and doc.last_modified


def test_pdf_from_bytes_takes_the_title_from_the_first_line_without_metadata():
    doc = pdf_document(text_pdf(MERKBLATT[:1]), "https://kreis.example/merkblatt.pdf",
                       url="https://kreis.example/merkblatt.pdf", last_modified="2025-03-01")
    assert doc.title == "Merkblatt Wohngeld" and doc.url == "https://kreis.example/merkblatt.pdf"
    assert len(doc.sections) == 1 and doc.sections[0].headings == ("Merkblatt Wohngeld",)
    assert doc.last_modified == "2025-03-01" and "Zimmer 214" in doc.text


@pytest.mark.parametrize("data, message", [
    (scanned_pdf(), r"no text \(scanned image\?\)"),
    (encrypted_pdf("geheim"), "password-protected"),
    (b"Das ist keine PDF-Datei, nur Text mit falscher Endung.", "not a readable PDF"),
    (b"%PDF-1.4\n1 0 obj << /Type /Catalog", "not a readable PDF"),
], ids=["scanned", "encrypted", "garbage", "truncated"])
def test_unreadable_pdfs_say_why(tmp_path: Path, data: bytes, message: str):
    path = tmp_path / "antrag.pdf"
    path.write_bytes(data)
    with pytest.raises(LoadError, match=message) as caught:
        load(path)
    assert "antrag.pdf" in str(caught.value)
    with pytest.raises(LoadError, match=message):
        pdf_document(data, "https://kreis.example/antrag.pdf", url="https://kreis.example/antrag.pdf")


def test_pdf_with_only_an_owner_password_is_read():
    doc = pdf_document(encrypted_pdf(""), "merkblatt.pdf")
    assert "Wohngeldstelle im Kreishaus" in doc.text


def test_pdf_over_the_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("knowledge.loaders.MAX_FILE_BYTES", 100)
    with pytest.raises(LoadError, match="over the limit"):
        pdf_document(text_pdf(MERKBLATT), "gross.pdf")


def test_docx_headings_become_sections_and_tables_rows(files: Path):
    doc = load(files / "gebuehren.docx")
    assert doc.doc_type == "docx" and doc.title == "Gebührenordnung Kfz-Zulassungsstelle"
    by_heading = {s.headings: s.text for s in doc.sections}
    title = doc.title
    assert by_heading[(title,)] == "Diese Übersicht gilt ab 1. Januar 2025."
    assert "nur mit Termin" in by_heading[(title, "Zulassung")]
    fees = by_heading[(title, "Zulassung", "Gebühren")].splitlines()
    assert [line.strip() for line in fees] == ["Leistung | Gebühr", "Neuzulassung | 27,90 Euro",
                                               "Abmeldung | 6,90 Euro"]
    assert by_heading[(title, "Wunschkennzeichen")] == "- Ein Wunschkennzeichen kostet zusätzlich 12,80 Euro."


def test_docx_from_bytes_and_broken_docx():
    doc = docx_document(word_file(), "https://kreis.example/gebuehren.docx", url="https://kreis.example/gebuehren.docx")
    assert doc.url == "https://kreis.example/gebuehren.docx" and "27,90 Euro" in doc.text
    with pytest.raises(LoadError, match="not a readable Word file"):
        docx_document(b"PK\x03\x04 kaputt", "kaputt.docx")
    empty = io.BytesIO()
    docx.Document().save(empty)
    with pytest.raises(LoadError, match="no text"):
        docx_document(empty.getvalue(), "leer.docx")


def test_discover_finds_pdf_and_docx_but_not_word_lock_files(files: Path):
    (files / "~$gebuehren.docx").write_bytes(b"lock")
    assert sorted(f.path.name for f in discover([files])) == ["gebuehren.docx", "merkblatt-wohngeld.pdf"]


def test_ingesting_a_folder_reports_the_broken_pdf_and_indexes_the_rest(settings, embedder, files: Path):
    shutil.copytree(FIXTURES / "kb", files / "kb")
    (files / "scan.pdf").write_bytes(scanned_pdf())
    (files / "kaputt.pdf").write_bytes(b"<html>Fehlerseite statt PDF</html>")
    index = build_index(settings, embedder)
    report = index.ingestor(settings).ingest([files])

    assert sorted(Path(source).name for source, _ in report.failed) == ["kaputt.pdf", "scan.pdf"]
    assert any("no text (scanned image?)" in reason for _, reason in report.failed)
    assert len(report.added) == 6  # the four kb files, the PDF and the Word file
    indexed = index.store.source_hashes()
    assert (files / "merkblatt-wohngeld.pdf").resolve().as_posix() in indexed
    hits = index.retriever(settings).retrieve("Welche Unterlagen brauche ich für den Wohngeldantrag?", k=3)
    assert any(h.title == "Merkblatt Wohngeld 2025" and "Einkommensnachweise" in h.text for h in hits)
    hits = index.retriever(settings).retrieve("Was kostet eine Neuzulassung?", k=3)
    assert any("27,90 Euro" in h.text for h in hits)
