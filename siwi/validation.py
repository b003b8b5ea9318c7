"""Pydantic validation errors as one line an operator can act on ("sources.0.paths: Field required; …")."""

from __future__ import annotations

from pydantic import ValidationError


def describe(exc: ValidationError, limit: int = 3) -> str:
    problems = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    more = len(exc.errors()) - limit
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
