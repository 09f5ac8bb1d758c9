"""The search page in a real headless browser (Debian's chromium); skipped where none is installed."""

from __future__ import annotations

import pytest

from tasb.models.student import BertDot
from tasb.retrieval.index import build_index
from tasb.serve.browser import check_page, find_browser, screenshot
from tasb.serve.launch import running_server

CORPUS = {f"p{i}": f"passage {i} about topic {i % 7}" for i in range(40)}

pytestmark = pytest.mark.skipif(find_browser() is None, reason="no headless chromium (apt-get install chromium)")


@pytest.mark.slow
def test_the_page_renders_ranked_passages_with_scores_and_latency(tiny_bert_dir, tmp_path):
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(f"{pid}\t{text}\n" for pid, text in CORPUS.items()), encoding="utf-8")
    build_index(BertDot.load(str(tiny_bert_dir)), CORPUS, tmp_path / "index", bf16=False, model_name=str(tiny_bert_dir))

    with running_server(["--index", str(tmp_path / "index"), "--corpus", str(corpus)], timeout=120) as base:
        page = check_page(base, "topic 3")
        shot = screenshot(base, "topic 3", tmp_path / "page.png")

    assert page["hits"] == 10  # the page's default k
    assert page["scores"] == sorted(page["scores"], reverse=True)
    assert page["status"].startswith("10 passages in ") and "ms (server)" in page["status"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
