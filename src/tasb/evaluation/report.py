"""Result tables in Markdown, the form the docs and the quickstart print."""

from __future__ import annotations


def markdown_table(rows: dict[str, dict[str, float]], notes: dict[str, str] | None = None) -> str:
    """One row per system, one column per measure (the first row's order), values to 3 decimals."""
    if not rows:
        return ""
    measures = list(next(iter(rows.values())))
    notes = notes or {}
    header = ["system", *measures] + (["note"] if notes else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for name, values in rows.items():
        cells = [name, *(f"{values[m]:.3f}" if m in values else "–" for m in measures)]
        lines.append("| " + " | ".join(cells + ([notes.get(name, "")] if notes else [])) + " |")
    return "\n".join(lines)
