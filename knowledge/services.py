"""Structured public-service descriptions, modelled on the fields of the German service catalogue.

One YAML file per service (schema in knowledge/sample/README.md). Each field becomes its own section, so
that a question about fees retrieves the fee passage of the right service instead of a long full text.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowledge.documents import Document, Section, Visibility


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    url: str


class Office(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    anschrift: str | None = None
    telefon: str | None = None
    email: str | None = None
    oeffnungszeiten: str | None = None


class ServiceDescription(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    url: str
    kurztext: str
    leika: str | None = None
    language: str = "de"
    visibility: Visibility = "public"
    example_data: bool = False
    last_modified: date | None = None
    volltext: str | None = None
    voraussetzungen: list[str] = []
    unterlagen: list[str] = []
    kosten: list[str] = []
    fristen: str | None = None
    bearbeitungsdauer: str | None = None
    verfahrensablauf: list[str] = []
    rechtsgrundlagen: list[str] = []
    formulare: list[Link] = []
    online_dienst: Link | None = None
    hinweise: str | None = None
    zustaendige_stelle: Office | None = None


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


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def _office_text(office: Office) -> str:
    lines = [office.name]
    for label, value in (("Anschrift", office.anschrift), ("Telefon", office.telefon),
                         ("E-Mail", office.email), ("Öffnungszeiten", office.oeffnungszeiten)):
        if value:
            lines.append(f"{label}: {value}")
    return "\n".join(lines)


def service_sections(service: ServiceDescription) -> list[Section]:
    description = service.kurztext + (f"\n\n{service.volltext}" if service.volltext else "")
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
        "zustaendige_stelle": _office_text(service.zustaendige_stelle) if service.zustaendige_stelle else "",
    }
    return [Section((service.name, FIELD_LABELS[key]), text.strip()) for key, text in texts.items() if text.strip()]


class ServiceFileError(ValueError):
    pass


def load_service_file(path: Path, source_id: str) -> Document:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        service = ServiceDescription.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ServiceFileError(f"{path}: not a valid service description: {exc}") from exc
    extra = {"service_id": service.id, "example_data": str(service.example_data).lower()}
    if service.leika:
        extra["leika"] = service.leika
    return Document(
        source_id=source_id,
        title=service.name,
        sections=tuple(service_sections(service)),
        url=service.url,
        path=str(path),
        language=service.language,
        visibility=service.visibility,
        doc_type="service",
        last_modified=service.last_modified.isoformat() if service.last_modified else None,
        extra=extra,
    )
