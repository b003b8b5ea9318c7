"""Service catalogue import: the City of Munich's appointment-system export (`services_de.json` with the
services, `locations_de.json` with the offices) mapped onto ServiceDescription, one Document per service,
through the same `service_document` as the YAML/JSON service files. Mapping table: docs/service-schema.md.

The export is read as a whole; a file that is missing or not JSON stops the run with one line naming it,
a single service that cannot be mapped is reported as Failed and the others are indexed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import ValidationError

from knowledge.html import fragment_blocks, fragment_text
from knowledge.loaders import LoadError
from knowledge.services import Link, Office, ServiceDescription, service_document
from knowledge.sources import Failed, Item, MunichConfig, restrict
from siwi.validation import describe

log = logging.getLogger(__name__)

PREFIX = "munich:"
# Hosts of the Bavarian online-service portal (BayernPortal/AKDB) where Munich's online applications run; a
# link there is the service's online service, every other link a form or further information.
ONLINE_SERVICE_HOSTS = ("buergerserviceportal.de", "buergerservice-portal.de")

Record = dict[str, Any]


class MappingError(ValueError):
    """A service record that does not fit the schema, in words an operator can act on."""


def read_export(path: Path) -> list[Any]:
    """The `data` list of an export file (a bare list is accepted too)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise LoadError(f"{path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise LoadError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise LoadError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    data = raw.get("data") if isinstance(raw, dict) else raw
    if not isinstance(data, list):
        raise LoadError(f"{path}: not a Munich export (expected an object with a 'data' list)")
    return data


def _text(value: Any) -> str | None:
    """Export fields mix null, false and "" for 'none'."""
    return value.strip() or None if isinstance(value, str) else None


def office_from_location(location: Record) -> Office:
    address = location.get("address") or {}
    street = " ".join(filter(None, (_text(address.get("street")), _text(address.get("house_number")))))
    town = " ".join(filter(None, (_text(address.get("postal_code")), _text(address.get("city")))))
    anschrift = ", ".join(filter(None, (street, town))) or None
    if anschrift and _text(address.get("hint")):
        anschrift += f" ({_text(address.get('hint'))})"
    name = _text(location.get("displayName")) or _text(location.get("name")) or ""
    unit = _text(location.get("organizationUnit"))
    if unit and unit not in name:
        name = f"{name} ({unit})"
    contact = location.get("contact") or {}
    return Office(name=name, anschrift=anschrift, telefon=_text(contact.get("phone")),
                  fax=_text(contact.get("fax")), email=_text(contact.get("email")))


def _service_url(record: Record, service_id: str) -> str:
    """The export's own URL template ("…#/services/{serviceId}"), filled in; else the first office link."""
    for template in ((record.get("meta") or {}).get("url"), (record.get("appointment") or {}).get("link")):
        if _text(template):
            return template.strip().replace("{serviceId}", service_id)
    for location in record.get("locations") or []:
        if isinstance(location, dict) and _text(location.get("url")):
            return location["url"].strip()
    raise MappingError("no URL in the export (meta.url, appointment.link, locations[].url)")


def _links(record: Record) -> tuple[list[Link], Link | None]:
    """forms and links (often the same list) without duplicates; the first link to the online-service
    portal becomes the online service."""
    forms: list[Link] = []
    online: Link | None = None
    seen: set[str] = set()
    for entry in [*(record.get("forms") or []), *(record.get("links") or [])]:
        url, title = _text(entry.get("link")), _text(entry.get("name"))
        if not url or not title or url in seen:
            continue
        seen.add(url)
        if note := _text(entry.get("description")):
            title = f"{title} – {note}"
        link = Link(title=title, url=url)
        host = urlparse(url).hostname or ""
        if online is None and host.endswith(ONLINE_SERVICE_HOSTS):
            online = link
        else:
            forms.append(link)
    return forms, online


def _last_modified(record: Record) -> date | None:
    value = _text((record.get("meta") or {}).get("lastupdate"))
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def service_from_record(record: Record, offices: Mapping[str, Office]) -> ServiceDescription:
    """One export record → ServiceDescription; raises MappingError or ValidationError."""
    service_id = str(record.get("id") or "").strip()
    meta = record.get("meta") or {}
    description = fragment_text(record.get("description") or "")
    fees = [block.text for block in fragment_blocks(record.get("fees") or "")]
    forms, online = _links(record)
    stellen: list[Office] = []
    for ref in record.get("locations") or []:
        office = offices.get(str(ref.get("location")))
        if office is not None and office not in stellen:
            stellen.append(office)
    if not (description or fees or forms or online or stellen):
        raise MappingError("no description, fees, forms or office in the export: nothing to index")
    # 62 of 287 services of the 2026 export have no description; the name then stands in for the short text.
    kurztext, _, volltext = description.partition("\n\n")
    keywords = [k.strip() for k in str(meta.get("keywords") or "").split(",") if k.strip()]
    leika = _text(record.get("leika"))
    return ServiceDescription.model_validate({
        "id": service_id,
        "name": _text(record.get("name")),
        "url": _service_url(record, service_id),
        "kurztext": kurztext or _text(record.get("name")),
        "volltext": volltext or None,
        "leika": ", ".join(k.strip() for k in leika.split(",")) if leika else None,
        "language": _text(meta.get("locale")) or "de",
        "last_modified": _last_modified(record),
        "suchbegriffe": list(dict.fromkeys(keywords)),
        "kosten": fees,
        "formulare": forms,
        "online_dienst": online,
        "zustaendige_stelle": stellen or None,
    })


class MunichSource:
    """Source ids are `munich:<service id>`; prune removes `munich:` ids the export no longer has."""

    def __init__(self, config: MunichConfig):
        self.name = config.name
        self._config = config
        self._records: list[Any] | None = None
        self._offices: dict[str, Office] | None = None

    def _load(self) -> tuple[list[Any], dict[str, Office]]:
        if self._records is None or self._offices is None:
            records = read_export(self._config.services)
            offices: dict[str, Office] = {}
            if self._config.locations is not None:
                for location in read_export(self._config.locations):
                    try:
                        offices[str(location["id"])] = office_from_location(location)
                    except (KeyError, TypeError, AttributeError, ValidationError) as exc:
                        log.warning("%s: office skipped: %s", self._config.locations, exc)
            self._records, self._offices = records, offices
        return self._records, self._offices

    def estimate(self) -> int | None:
        return len(self._load()[0])

    def items(self, indexed: Mapping[str, set[str]]) -> Iterator[Item]:
        records, offices = self._load()
        seen: set[str] = set()
        for position, record in enumerate(records):
            if not isinstance(record, dict) or not str(record.get("id") or "").strip():
                yield Failed(f"{PREFIX}#{position}", f"{self._config.services}: service #{position} has no id")
                continue
            source_id = PREFIX + str(record["id"]).strip()
            if source_id in seen:
                yield Failed(source_id, f"{source_id}: appears twice in {self._config.services}; first one kept")
                continue
            seen.add(source_id)
            try:
                service = service_from_record(record, offices)
            except ValidationError as exc:
                yield Failed(source_id, f"{source_id}: {describe(exc)}")
                continue
            except (MappingError, KeyError, TypeError, AttributeError, ValueError) as exc:
                yield Failed(source_id, f"{source_id}: {exc}")
                continue
            yield restrict(service_document(service, source_id, path=str(self._config.services)),
                           self._config.visibility)

    def gone(self, indexed: Mapping[str, set[str]], seen: set[str]) -> list[str]:
        return [source_id for source_id in indexed if source_id.startswith(PREFIX) and source_id not in seen]
