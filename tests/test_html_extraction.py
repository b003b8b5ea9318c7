"""HTML main-content extraction: what a service page must keep (headings, lists, tables, the Voraussetzungen/
Unterlagen/Gebühren sections) and what it must lose (navigation, breadcrumb, cookie banner, footer).
The Berlin pages are measured with the functions of bench/boilerplate.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.boilerplate import CORPUS, KEY_SECTIONS, covered, leaked_lines, load_reference, naive_text, tokens
from knowledge.html import extract_main_content, fragment_blocks, fragment_text
from knowledge.loaders import SourceFile, load_file

# Measured with bench/boilerplate.py: 97 of 97 sections (100 %); trafilatura alone kept 49 (50.5 %).
MIN_SECTION_RECALL = 0.95
# Navigation, header and footer strings of service.berlin.de, present on every page outside the main content.
BERLIN_BOILERPLATE = ["Impressum", "Hauptnavigation", "Bürgertelefon 115", "BerlinFinder", "Pressemitteilungen",
                      "Polizeimeldungen", "Karriere im Land Berlin", "Menü schließen", "Ordnungsämter"]

PAGE = """<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Hundesteuer | Stadt Beispiel</title></head>
<body>
<a class="skip-link" href="#inhalt">Zum Inhalt springen</a>
<div class="cookie-banner" role="dialog"><p>Wir verwenden Cookies, um die Nutzung zu analysieren.</p>
  <button>Alle akzeptieren</button> <button>Nur notwendige</button></div>
<header class="site-header"><a href="/">Stadt Beispiel – Startseite</a>
  <nav aria-label="Hauptnavigation"><ul><li><a href="/rathaus">Rathaus und Politik</a></li>
  <li><a href="/wirtschaft">Wirtschaft und Bauen</a></li><li><a href="/kultur">Kultur und Freizeit</a></li></ul></nav>
</header>
<div class="links-oben"><a href="/a">Abfallkalender bestellen</a> <a href="/b">Bauantrag stellen</a>
  <a href="/c">Wohngeld beantragen</a> <a href="/d">Sperrmüll anmelden</a></div>
<nav class="breadcrumb"><ol><li><a href="/">Startseite</a></li><li><a href="/buergerservice">Bürgerservice</a></li>
  <li>Hundesteuer</li></ol></nav>
<main id="inhalt"><article>
  <h1>Hundesteuer</h1>
  <p>Wer in der Stadt einen Hund hält, muss ihn innerhalb von zwei Wochen bei der Steuerstelle anmelden.
     Die Steuer wird jährlich erhoben und per Bescheid festgesetzt.</p>
  <h2>Erforderliche Unterlagen</h2>
  <ul><li>Anmeldeformular für Hunde</li><li>Nachweis der Haftpflichtversicherung</li>
      <li>Bei Listenhunden: Erlaubnis nach dem Landeshundegesetz</li></ul>
  <h2>Gebühren</h2>
  <table><tr><th>Hund</th><th>Steuer pro Jahr</th></tr>
    <tr><td>erster Hund</td><td>120 Euro</td></tr><tr><td>jeder weitere Hund</td><td>180 Euro</td></tr>
    <tr><td>gefährlicher Hund</td><td>600 Euro</td></tr></table>
  <h2>Formulare</h2>
  <ul><li><a href="/f/anmeldung.pdf">Anmeldung eines Hundes</a></li><li><a href="/f/abmeldung.pdf">Abmeldung eines
      Hundes</a></li></ul>
  <h2>Rechtsgrundlagen</h2>
  <ul><li><a href="/satzung">Hundesteuersatzung der Stadt Beispiel</a></li></ul>
</article></main>
<footer><ul><li><a href="/impressum">Impressum</a></li><li><a href="/datenschutz">Datenschutzerklärung</a></li>
  <li><a href="/barrierefreiheit">Erklärung zur Barrierefreiheit</a></li></ul><p>© 2026 Stadt Beispiel</p></footer>
<script>var tracking = "Besucherzähler";</script>
</body></html>"""

KEPT = ["# Hundesteuer", "## Erforderliche Unterlagen", "- Nachweis der Haftpflichtversicherung", "## Gebühren",
        "| jeder weitere Hund | 180 Euro |", "| gefährlicher Hund | 600 Euro |", "- Anmeldung eines Hundes",
        "- Abmeldung eines Hundes", "- Hundesteuersatzung der Stadt Beispiel", "bei der Steuerstelle anmelden"]
GONE = ["Zum Inhalt springen", "Cookies", "Alle akzeptieren", "Rathaus und Politik", "Startseite", "Bürgerservice",
        "Abfallkalender", "Wohngeld beantragen", "Impressum", "Datenschutzerklärung", "Barrierefreiheit", "©",
        "Besucherzähler"]


def test_content_stays_and_boilerplate_goes():
    markdown = extract_main_content(PAGE).markdown
    for kept in KEPT:
        assert kept in markdown
    for gone in GONE:
        assert gone not in markdown, gone


def test_page_metadata_is_read():
    page = extract_main_content(PAGE, "https://www.stadt-beispiel.example/hundesteuer")
    assert page.title == "Hundesteuer"
    assert page.url == "https://www.stadt-beispiel.example/hundesteuer"


def test_broken_html_still_yields_its_text():
    broken = ("<html><body><main><h1>Sperrmüll<p>Sperrmüll wird zweimal im Jahr kostenlos abgeholt. Melden Sie "
              "den Termin <b>vier Wochen vorher an.<ul><li>bis 3 Kubikmeter<li>keine Elektrogeräte"
              "<div>Die Abholung erfolgt ab 6 Uhr morgens, stellen Sie die Gegenstände am Vorabend bereit.")
    markdown = extract_main_content(broken).markdown
    for text in ("Sperrmüll wird zweimal im Jahr kostenlos abgeholt", "vier Wochen vorher",
                 "bis 3 Kubikmeter", "keine Elektrogeräte", "am Vorabend bereit"):
        assert text in markdown


@pytest.mark.parametrize("prolog", ['<?xml version="1.0" encoding="iso-8859-1"?>\n',
                                    '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'])
def test_a_wrong_declared_encoding_does_not_garble_decoded_text(prolog: str):
    html = PAGE.replace('<meta charset="utf-8">', "").replace("<!DOCTYPE html>", prolog)
    markdown = extract_main_content(html).markdown
    assert "Gebühren" in markdown and "gefährlicher Hund" in markdown and "Ã" not in markdown


def test_cp1252_file_declaring_utf8_is_read(tmp_path: Path):
    path = tmp_path / "alt.html"
    path.write_bytes(PAGE.encode("cp1252"))
    document = load_file(SourceFile(path, path.as_posix()))
    assert "Nachweis der Haftpflichtversicherung" in document.text
    assert any(s.headings[-1] == "Gebühren" for s in document.sections)


def test_empty_html_gives_empty_markdown():
    assert extract_main_content("").markdown == ""
    assert extract_main_content(" \n ").markdown == ""


def test_html_fragments_become_text_with_lists():
    fragment = ("<p>\u200bFür Unternehmen gilt:<br>Gewerbeanmeldung erforderlich.</p>"
                "<ul><li><strong>Neuanmeldung:</strong> 50 Euro</li><li>Ummeldung: 40 Euro<ul><li>online: 35 Euro"
                "</li></ul></li></ul><ol><li>Antrag</li><li>Zahlung</li></ol>")
    assert fragment_text(fragment) == ("Für Unternehmen gilt:\nGewerbeanmeldung erforderlich.\n\n"
                                       "- Neuanmeldung: 50 Euro\n- Ummeldung: 40 Euro\n  - online: 35 Euro\n\n"
                                       "1. Antrag\n2. Zahlung")
    assert [b.text for b in fragment_blocks("<p>40 Euro</p><p>\n</p><div>ermäßigt 20 Euro</div>")] == \
        ["40 Euro", "ermäßigt 20 Euro"]
    assert fragment_text("25 Euro") == "25 Euro" and fragment_text("") == ""


@pytest.mark.shared
def test_berlin_service_pages_keep_their_sections_and_lose_navigation(shared_dir: Path):
    pages = load_reference(shared_dir / CORPUS)
    sections = found = key_found = key_sections = 0
    for page in pages:
        html = page.file.read_text(encoding="utf-8")
        markdown = extract_main_content(html, page.url).markdown
        extracted = tokens(markdown)
        for section in page.sections:
            needle = page.section_tokens(section)
            hit = covered(needle, extracted) >= 0.9 * len(needle)
            sections, found = sections + 1, found + hit
            if section["id"] in KEY_SECTIONS:
                key_sections, key_found = key_sections + 1, key_found + hit
        assert leaked_lines(page, html, markdown) == [], page.file.name
        visible = naive_text(html, None)
        for string in BERLIN_BOILERPLATE:
            assert string in visible, f"{string!r} is not on {page.file.name}: update the list"
            assert string not in markdown, f"{string!r} leaked from {page.file.name}"
    assert found / sections >= MIN_SECTION_RECALL, f"{found}/{sections} sections found"
    assert key_found == key_sections, f"{key_found}/{key_sections} Voraussetzungen/Unterlagen/Gebühren found"
