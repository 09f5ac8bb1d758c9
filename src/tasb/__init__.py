"""tasb: dense passage retrieval trained with TAS-Balanced (Hofstätter et al., SIGIR'21).

The Python API (docs/api.md): the names below, each imported from its home module on first use, so
``import tasb`` and ``tasb --help`` stay fast (no torch, faiss or transformers until a name needs them).

    import tasb
    data = tasb.load_dataset("path/to/beir-folder", split="test")
    run = tasb.BM25(data.corpus).search(data.queries, k=100)
    tasb.evaluate(run, data.qrels)
"""

import importlib
from typing import TYPE_CHECKING, Any

# public name → (home module, name there)
_EXPORTS: dict[str, tuple[str, str]] = {
    # data
    "load_dataset": ("tasb.data.datasets", "load_dataset"),
    "read_qrels": ("tasb.data.readers", "read_qrels"),
    "read_run": ("tasb.data.readers", "read_run"),
    "write_run": ("tasb.data.writers", "write_run"),
    "training_pairs": ("tasb.data.pairs", "training_pairs"),
    "read_scores": ("tasb.data.scores", "read_scores"),
    "write_scores": ("tasb.data.writers", "write_scores"),
    # models
    "BertDot": ("tasb.models.student", "BertDot"),
    "ColBERT": ("tasb.models.colbert", "ColBERT"),
    "BertCat": ("tasb.models.cross_encoder", "BertCat"),
    # first stage: BM25 and the dense index
    "BM25": ("tasb.retrieval.bm25", "BM25"),
    "build_index": ("tasb.retrieval.index", "build_index"),
    "DenseIndex": ("tasb.retrieval.index", "DenseIndex"),
    "load_index_model": ("tasb.retrieval.index", "load_index_model"),
    "search": ("tasb.retrieval.index", "search"),
    # fusion, teachers and re-ranking
    "fuse": ("tasb.retrieval.fusion", "fuse"),
    "build_scorer": ("tasb.retrieval.scorers", "build_scorer"),
    "score_pairs": ("tasb.retrieval.scorers", "score_pairs"),
    "rerank": ("tasb.retrieval.rerank", "rerank"),
    # evaluation
    "evaluate": ("tasb.evaluation.metrics", "evaluate"),
    "evaluate_per_query": ("tasb.evaluation.metrics", "evaluate_per_query"),
    # training from a config, as `tasb train` does
    "TrainConfig": ("tasb.config", "TrainConfig"),
    "load_config": ("tasb.config", "load_config"),
    "train": ("tasb.training.run", "train_from_config"),
    # what a user can fix: a bad file, value or option, named with its line where there is one
    "InputError": ("tasb.errors", "InputError"),
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # for type checkers and editors; at run time __getattr__ imports on first use
    from tasb.config import TrainConfig, load_config
    from tasb.data.datasets import load_dataset
    from tasb.data.pairs import training_pairs
    from tasb.data.readers import read_qrels, read_run
    from tasb.data.scores import read_scores
    from tasb.data.writers import write_run, write_scores
    from tasb.errors import InputError
    from tasb.evaluation.metrics import evaluate, evaluate_per_query
    from tasb.models.colbert import ColBERT
    from tasb.models.cross_encoder import BertCat
    from tasb.models.student import BertDot
    from tasb.retrieval.bm25 import BM25
    from tasb.retrieval.fusion import fuse
    from tasb.retrieval.index import DenseIndex, build_index, load_index_model, search
    from tasb.retrieval.rerank import rerank
    from tasb.retrieval.scorers import build_scorer, score_pairs
    from tasb.training.run import train_from_config as train

    __version__: str


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("tasb")
        except PackageNotFoundError:  # a source tree on sys.path, not installed
            value = "0+unknown"
    elif name in _EXPORTS:
        module, attribute = _EXPORTS[name]
        value = getattr(importlib.import_module(module), attribute)
    else:
        raise AttributeError(f"module 'tasb' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
