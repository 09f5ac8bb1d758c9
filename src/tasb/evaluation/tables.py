"""Tables in Markdown, the one writer every results table goes through (the quickstart's, a teacher's judgement,
the pipelines table, the latency table, the report's)."""

from __future__ import annotations

from typing import Iterable, Sequence


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table: the header, the rule under it, one line per row of cells."""
    return [table_row(header), "|" + "|".join("---" for _ in header) + "|", *(table_row(row) for row in rows)]


def table_row(cells: Sequence[str]) -> str:
    """One line of a Markdown table."""
    return "| " + " | ".join(cells) + " |"


def results_table(rows: dict[str, dict[str, float]], notes: dict[str, str] | None = None) -> str:
    """One row per system, one column per measure (the first row's order), values to 3 decimals."""
    if not rows:
        return ""
    measures = list(next(iter(rows.values())))
    notes = notes or {}
    header = ["system", *measures] + (["note"] if notes else [])
    cells = (
        [name, *(f"{values[m]:.3f}" if m in values else "–" for m in measures)] + ([notes.get(name, "")] if notes else [])
        for name, values in rows.items()
    )
    return "\n".join(markdown_table(header, cells))
