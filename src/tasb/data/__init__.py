"""Loading and writing the files the pipeline exchanges: corpora, queries, qrels, runs, teacher scores."""

from tasb.data.datasets import DATA_DIR_ENV, check_judged_passages, load_corpus, load_dataset, load_qrels, load_queries, resolve_data_path
from tasb.data.pairs import negatives, positives, sharing_positives, training_pairs
from tasb.data.readers import read_clusters, read_corpus, read_qrels, read_queries, read_run
from tasb.data.records import Corpus, Dataset, Pair, Qrels, Queries, Run, ScoredPair
from tasb.data.scores import check_score_texts, ensemble, ensemble_files, normalize_per_query, passage_scores, read_scores
from tasb.data.writers import ranked, write_clusters, write_qrels, write_run, write_scores

__all__ = [
    "check_judged_passages", "check_score_texts",
    "DATA_DIR_ENV", "Corpus", "Dataset", "Pair", "Qrels", "Queries", "Run", "ScoredPair",
    "ensemble", "ensemble_files", "load_corpus", "load_dataset", "load_qrels", "load_queries", "negatives", "normalize_per_query",
    "passage_scores", "positives", "ranked", "read_clusters", "read_corpus", "read_qrels", "read_queries", "read_run", "read_scores",
    "resolve_data_path", "sharing_positives", "training_pairs", "write_clusters", "write_qrels", "write_run", "write_scores",
]
