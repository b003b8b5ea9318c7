"""Structured public-service descriptions, modelled on the fields of the German service catalogue (LeiKa/FIM).

One YAML or JSON file per service (schema: docs/service-schema.md); catalogue imports such as
knowledge/munich.py map their records onto the same model. Each field becomes its own section, so that a
question about fees retrieves the fee passage of the right service instead of a long full text, and every
chunk starts with "Service name > Field label" (the heading path the chunker puts first).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowledge.documents import Document, Section, Visibility
from siwi.validation import describe

_TEXT = {"min_length": 1}


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, description="Text shown for the link.")
    url: str = Field(min_length=1, description="Address of the form or online service.")


class Office(BaseModel):
    """A responsible office (zuständige Stelle): where to go, whom to call."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(title="Name", min_length=1)
    anschrift: str | None = Field(None, title="Anschrift", description="Street, number, postcode, town, room.")
    telefon: str | None = Field(None, title="Telefon")
    fax: str | None = Field(None, title="Fax")
    email: str | None = Field(None, title="E-Mail")
    oeffnungszeiten: str | None = Field(None, title="Öffnungszeiten")


class ServiceDescription(BaseModel):
    """One public service (Leistungsbeschreibung)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", title="Kennung",
                    description="Stable identifier; for files, the file name without suffix.")
    name: str = Field(title="Leistungsbezeichnung", **_TEXT)
    url: str = Field(pattern=r"^https?://", title="Adresse",
                     description="Public web page of the service; the citation links to it.")
    kurztext: str = Field(title="Kurztext", description="One or two sentences: what the service is.", **_TEXT)
    leika: str | None = Field(None, pattern=r"^\d{14}(, ?\d{14})*$", title="LeiKa-Schlüssel",
                              description="14-digit key of the Leistungskatalog; several separated by commas.")
    language: str = Field("de", title="Sprache", description="Language code of the texts.")
    visibility: Visibility = Field("public", title="Sichtbarkeit",
                                   description="`internal`: staff only, never used in answers to citizens.")
    example_data: bool = Field(False, title="Beispieldaten", description="`true`: local details are illustrative.")
    last_modified: date | None = Field(None, title="Stand", description="Date of the last content change.")
    volltext: str | None = Field(None, title="Volltext", description="Longer description.")
    suchbegriffe: list[str] = Field([], title="Suchbegriffe",
                                    description="Synonyms citizens use; added to the description for search.")
    voraussetzungen: list[str] = Field([], title="Voraussetzungen")
    unterlagen: list[str] = Field([], title="Erforderliche Unterlagen", description="One document per item.")
    kosten: list[str] = Field([], title="Kosten und Gebühren", description="One fee per item.")
    fristen: str | None = Field(None, title="Fristen")
    bearbeitungsdauer: str | None = Field(None, title="Bearbeitungsdauer")
    verfahrensablauf: list[str] = Field([], title="Verfahrensablauf", description="Steps, in order.")
    rechtsgrundlagen: list[str] = Field([], title="Rechtsgrundlagen")
    formulare: list[Link] = Field([], title="Formulare")
    online_dienst: Link | None = Field(None, title="Online-Dienst")
    hinweise: str | None = Field(None, title="Hinweise")
    zustaendige_stelle: Office | list[Office] | None = Field(
        None, title="Zuständige Stelle", description="One office, or a list when several offices serve it.")

    @property
    def offices(self) -> list[Office]:
        stelle = self.zustaendige_stelle
        return [] if stelle is None else stelle if isinstance(stelle, list) else [stelle]


# Field → heading shown in the chunk (and to the model). Order is the order of a good service page.
FIELD_LABELS: dict[str, str] = {
    "kurztext": "Beschreibung",
    "volltext": "Beschreibung",
    "voraussetzungen": "Voraussetzungen",
    "unterlagen": "Erforderliche Unterlagen",
    "kosten": "Kosten und Gebühren",
    "fristen": "Fristen",
    "bearbeitungsdauer": "Bearbeitungsdauer",
    "verfahrensablauf": "Verfahrensablauf",
    "rechtsgrundlagen": "Rechtsgrundlagen",
    "formulare": "Formulare",
    "online_dienst": "Online-Dienst",
    "hinweise": "Hinweise",
    "zustaendige_stelle": "Zuständige Stelle",
}


def service_json_schema() -> dict[str, Any]:
    """JSON schema of a service file (YAML or JSON), for editors and validators."""
    return ServiceDescription.model_json_schema()


def _bullets(items: list[str]) -> str:
    # Continuation lines are indented, so that a multi-line item stays one Markdown list item.
    return "\n".join("- " + item.strip().replace("\n", "\n  ") for item in items if item.strip())


def _office_text(office: Office) -> str:
    lines = [office.name]
    for label, value in (("Anschrift", office.anschrift), ("Telefon", office.telefon), ("Fax", office.fax),
                         ("E-Mail", office.email), ("Öffnungszeiten", office.oeffnungszeiten)):
        if value:
            lines.append(f"{label}: {value}")
    return "\n".join(lines)


def service_sections(service: ServiceDescription) -> list[Section]:
    description = "\n\n".join(part for part in (
        service.kurztext, service.volltext,
        "Suchbegriffe: " + ", ".join(service.suchbegriffe) if service.suchbegriffe else None) if part)
    texts: dict[str, str] = {
        "kurztext": description,
        "voraussetzungen": _bullets(service.voraussetzungen),
        "unterlagen": _bullets(service.unterlagen),
        "kosten": _bullets(service.kosten),
        "fristen": service.fristen or "",
        "bearbeitungsdauer": service.bearbeitungsdauer or "",
        "verfahrensablauf": "\n".join(f"{i}. {step}" for i, step in enumerate(service.verfahrensablauf, 1)),
        "rechtsgrundlagen": _bullets(service.rechtsgrundlagen),
        "formulare": _bullets([f"{f.title}: {f.url}" for f in service.formulare]),
        "online_dienst": f"{service.online_dienst.title}: {service.online_dienst.url}" if service.online_dienst else "",
        "hinweise": service.hinweise or "",
        "zustaendige_stelle": "\n\n".join(_office_text(office) for office in service.offices),
    }
    return [Section((service.name, FIELD_LABELS[key]), text.strip()) for key, text in texts.items() if text.strip()]


def service_document(service: ServiceDescription, source_id: str, path: str | None = None) -> Document:
    """The one way from a service description to a Document, for files and catalogue imports alike. Name and
    field label travel in each chunk's heading path; LeiKa key and URL in its metadata (`x_leika`, `url`)."""
    extra = {"service_id": service.id, "example_data": str(service.example_data).lower()}
    if service.leika:
        extra["leika"] = service.leika
    return Document(
        source_id=source_id,
        title=service.name,
        sections=tuple(service_sections(service)),
        url=service.url,
        path=path,
        language=service.language,
        visibility=service.visibility,
        doc_type="service",
        last_modified=service.last_modified.isoformat() if service.last_modified else None,
        extra=extra,
    )


class ServiceFileError(ValueError):
    pass


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What and where, without PyYAML's multi-line excerpt of the file."""
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(exc).split())


def load_service_file(path: Path, source_id: str) -> Document:
    """A service description in YAML (.yaml, .yml) or JSON (.json); both follow the same schema."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        service = ServiceDescription.model_validate(raw)
    except UnicodeDecodeError as exc:
        raise ServiceFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ServiceFileError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    except yaml.YAMLError as exc:
        raise ServiceFileError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from exc
    except ValidationError as exc:
        raise ServiceFileError(f"{path}: not a valid service description: {describe(exc)}") from exc
    return service_document(service, source_id, path=str(path))
