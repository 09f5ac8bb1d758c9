"""Measures as a Markdown table: one row per system, one column per measure (the quickstart's table, a teacher's judgement)."""

from __future__ import annotations

from tasb.markdown import markdown_table


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
