"""The search page as a browser renders it: Debian's headless Chromium loads ``/?q=...`` and runs its script.

Headless Chromium takes its snapshot when the page has loaded, before the search the page then starts has
answered; a virtual-time budget lets the page's own timers and requests finish first.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# virtual milliseconds the page may run before the snapshot: a re-ranked search takes about a second here
BUDGET_MS = 30_000


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def _chromium(base: str, query: str, *flags: str) -> subprocess.CompletedProcess:
    browser = find_browser()
    if browser is None:
        raise RuntimeError(f"no headless browser found (tried {', '.join(BROWSERS)}): apt-get install chromium")
    url = f"{base}/?q={urllib.parse.quote_plus(query)}"
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--virtual-time-budget={BUDGET_MS}", *flags, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=True)


def check_page(base: str, query: str) -> dict:
    """Render the page for ``query``; the hits, scores and status line it shows. Raises if it shows none or an error."""
    dom = _chromium(base, query, "--dump-dom").stdout
    status = re.search(r'<div id="status" class="([^"]*)">([^<]*)</div>', dom)
    if status is None:
        raise AssertionError("the rendered page has no status line")
    hits = dom.count('<span class="rank">')
    scores = re.findall(r'<span class="score">score (-?[0-9.]+)</span>', dom)
    if status.group(1) == "error" or hits == 0:
        raise AssertionError(f"the page shows {hits} hits and the status {status.group(2)!r}")
    return {"hits": hits, "scores": [float(s) for s in scores], "status": status.group(2)}


def screenshot(base: str, query: str, out: Path, width: int = 1100, height: int = 900) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    _chromium(base, query, f"--window-size={width},{height}", f"--screenshot={out.resolve()}")
    return out
