"""Shared fixtures: a tiny random BERT (milliseconds per batch) and the real data when present."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from tasb.models.resolve import resolve_model

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_configure(config):
    # the fast inner loop is `python -m pytest -q -m "not slow"` (docs/contributing.md); plain `pytest` runs all
    config.addinivalue_line(
        "markers", "slow: takes seconds (training runs, subprocesses, servers, benches): left out by -m 'not slow'"
    )


def _tiny_bert(folder: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    # MiniLM's vocabulary, so tiny models tokenize real text like the default model does
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("all-MiniLM-L6-v2"))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A plain Hugging Face BERT folder: 2 layers, 32 dims, random weights."""
    return _tiny_bert(tmp_path_factory.mktemp("tiny-bert"), seed=0)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def scifact_dir(shared_data) -> Path:
    folder = shared_data / "scifact"
    if not (folder / "corpus.jsonl").is_file():
        pytest.skip(f"SciFact not found at {folder}")
    return folder
