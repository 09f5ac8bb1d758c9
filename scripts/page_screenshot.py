"""Check the search page in a real headless browser and save a screenshot of it.

Usage: python scripts/page_screenshot.py [--out docs/figures/serve-page.png] [--query TEXT] -- [tasb serve options]

Starts ``tasb serve`` with the given options on 127.0.0.1, opens ``/?q=QUERY`` in Debian's headless Chromium
(``apt-get install chromium``), checks that the rendered page lists ranked passages with scores and a latency
line and no error, and saves a PNG. Defaults: the TREC-DL pool index of docs/pipelines.md, fused with BM25
and re-ranked by the untrained ColBERT (top 100). Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tasb.serve.browser import check_page, screenshot
from tasb.serve.launch import running_server

DATA = Path(os.environ.get("TASB_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
DEFAULT_SERVER = [
    "--index", "runs/trec-dl/index", "--corpus", str(DATA / "msmarco-trec-dl-pool-corpus" / "collection.tsv"),
    "--bm25", "--scorer", "colbert:all-MiniLM-L6-v2", "--rerank-depth", "100",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs/figures/serve-page.png")
    parser.add_argument("--query", default="what is the daily life of thai people")
    parser.add_argument("serve_args", nargs="*", help="tasb serve options (after --)")
    args = parser.parse_args()
    with running_server(args.serve_args or DEFAULT_SERVER) as base:
        page = check_page(base, args.query)
        screenshot(base, args.query, Path(args.out))
    print(f"{page['hits']} hits, status line: {page['status']!r}; screenshot in {args.out}", file=sys.stderr)
    print(json.dumps({**page, "screenshot": args.out}))


if __name__ == "__main__":
    main()
