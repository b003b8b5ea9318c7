"""HTML → main content as Markdown plus page metadata. Navigation, header, footer, breadcrumbs and cookie
banners go; headings, lists and tables stay (measured in bench/boilerplate.py)."""

from __future__ import annotations

from dataclasses import dataclass

import trafilatura


@dataclass(frozen=True)
class ExtractedPage:
    markdown: str
    title: str | None
    url: str | None
    language: str | None
    date: str | None


def extract_main_content(html: str, url: str | None = None) -> ExtractedPage:
    markdown = trafilatura.extract(html, url=url, output_format="markdown", include_tables=True,
                                   include_formatting=True, include_links=False, favor_recall=True) or ""
    meta = trafilatura.extract_metadata(html, default_url=url)
    return ExtractedPage(
        markdown=markdown.strip(),
        title=meta.title if meta and meta.title else None,
        url=meta.url if meta and meta.url else None,
        language=getattr(meta, "language", None) if meta else None,
        date=meta.date if meta and meta.date else None,
    )
