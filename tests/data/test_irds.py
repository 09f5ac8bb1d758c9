"""The ir_datasets path, with a stand-in registry: the real one downloads, which tests cannot."""

from __future__ import annotations

from typing import NamedTuple

import ir_datasets
import pytest

from tasb.data import load_dataset
from tasb.errors import InputError


class Doc(NamedTuple):
    doc_id: str
    title: str
    text: str

    def default_text(self) -> str:
        return f"{self.title} {self.text}"


class Query(NamedTuple):
    query_id: str
    text: str

    def default_text(self) -> str:
        return self.text


class Qrel(NamedTuple):
    query_id: str
    doc_id: str
    relevance: int
    iteration: str = "0"


class FakeDataset:
    def has_docs(self):
        return True

    def has_queries(self):
        return True

    def has_qrels(self):
        return True

    def docs_iter(self):
        return iter([Doc("d1", "Cats", "purr"), Doc("d2", "Dogs", "bark")])

    def queries_iter(self):
        return iter([Query("1", "cats?"), Query("2", "unjudged")])

    def qrels_iter(self):
        return iter([Qrel("1", "d1", 2)])


@pytest.fixture
def fake_registry(monkeypatch):
    loaded = []
    monkeypatch.setattr(ir_datasets, "registry", {"toy": None, "toy/test": None})

    def load(name):
        if name not in ("toy", "toy/test"):
            raise KeyError(name)
        loaded.append(name)
        return FakeDataset()

    monkeypatch.setattr(ir_datasets, "load", load)
    return loaded


def test_irds_split_loads_texts_ids_as_strings_and_judged_queries(fake_registry):
    data = load_dataset("irds:toy", split="test")
    assert fake_registry == ["toy/test"]
    assert data.corpus == {"d1": "Cats purr", "d2": "Dogs bark"}
    assert data.queries == {"1": "cats?"}
    assert data.qrels == {"1": {"d1": 2}}


def test_unknown_irds_id_is_refused(fake_registry):
    with pytest.raises(InputError, match="an ir_datasets id"):
        load_dataset("irds:nope", split="test")
