"""The README fits on a screen and its links resolve; the docs site builds with ``mkdocs build --strict``."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MKDOCS_YML = ROOT / "mkdocs.yml"

README_MAX_BYTES = 12 * 1024

# [text](target) and ![alt](target); the text may wrap over lines
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")


def _prose(markdown: str) -> str:
    """The Markdown without fenced code blocks and inline code, where brackets are not links."""
    return _CODE_SPAN.sub("", _FENCE.sub("", markdown))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _relative_links(markdown: str) -> list[str]:
    links = []
    for target in _LINK.findall(_prose(markdown)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
            continue
        links.append(target)
    return links


def _headings(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE)}


def test_readme_fits():
    size = README.stat().st_size
    assert size <= README_MAX_BYTES, (
        f"README.md is {size} bytes, over {README_MAX_BYTES}: move sections to a page under docs/ and link it"
    )


def test_readme_links_resolve():
    text = README.read_text(encoding="utf-8")
    links = _relative_links(text)
    assert links, "README.md links no docs page"
    anchors = _headings(README)
    broken = []
    for target in links:
        path, _, fragment = target.partition("#")
        if not path:
            if fragment not in anchors:
                broken.append(f"{target} (no such heading in README.md)")
            continue
        if not (ROOT / path).exists():
            broken.append(f"{target} (no file {path})")
        elif fragment and path.endswith(".md") and fragment not in _headings(ROOT / path):
            broken.append(f"{target} (no such heading in {path})")
    assert not broken, "README.md has broken links:\n" + "\n".join(broken)


def test_docs_site_builds_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.fail("mkdocs is not installed: pip install -e '.[test]' (or pip install 'mkdocs>=1.6')")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(MKDOCS_YML), "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        "mkdocs build --strict failed (a broken link or anchor between docs pages?):\n"
        + result.stdout
        + result.stderr
    )
    assert (tmp_path / "site" / "index.html").exists()
