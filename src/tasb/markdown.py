"""Markdown tables: the one writer every table tasb prints or writes goes through (results, the pipelines and
latency tables, the report's, a model card's)."""

from __future__ import annotations

from typing import Iterable, Sequence


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table: the header, the rule under it, one line per row of cells."""
    return [table_row(header), "|" + "|".join("---" for _ in header) + "|", *(table_row(row) for row in rows)]


def table_row(cells: Sequence[str]) -> str:
    """One line of a Markdown table."""
    return "| " + " | ".join(cells) + " |"
