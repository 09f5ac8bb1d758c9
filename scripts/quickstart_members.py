"""The teachers a finished quickstart folder holds, as the quickstart's ensemble members (scripts/teacher_fit.py,
scripts/student_stage.py)."""

from pathlib import Path

from tasb.apps.quickstart import QuickstartConfig
from tasb.data import Corpus
from tasb.models.colbert import ColBERT, PassageTokenCache
from tasb.models.student import BertDot
from tasb.retrieval.bm25 import BM25
from tasb.retrieval.index import DenseIndex
from tasb.retrieval.scorers import BM25Scorer, ColbertScorer, DotScorer, Scorer
from tasb.training.setup import load_student


def dense(model: BertDot, index: Path, name: str, bf16: bool) -> DotScorer:
    """A bi-encoder member scoring from its test index's passage vectors, as the quickstart's do."""
    vectors = DenseIndex.load(index)
    return DotScorer(model, bf16=bf16, passage_vectors=dict(zip(vectors.ids, vectors.embeddings)), name=name)


def run_members(run: Path, config: QuickstartConfig, corpus: Corpus) -> dict[str, Scorer]:
    """BM25, the initial student ("bi-encoder"), the run's ColBERT and its sentence-transformers baseline."""
    colbert = ColBERT.load(str(run / "colbert" / "model"))
    return {
        "bm25": BM25Scorer(BM25(corpus)),
        "bi-encoder": dense(load_student(config.student, config.device), run / "index-initial", "bi-encoder", config.bf16),
        "colbert": ColbertScorer(colbert, PassageTokenCache(colbert, bf16=config.bf16)),
        "baseline": dense(BertDot.load(str((run / "baseline" / "model").resolve()), device=config.device), run / "index-baseline", "baseline", config.bf16),
    }
