"""Retrieval metrics over TREC runs and qrels, through ir-measures (trec_eval's own code via pytrec_eval)."""

from tasb.evaluation.metrics import DEFAULT_MEASURES, evaluate, evaluate_per_query

__all__ = ["DEFAULT_MEASURES", "evaluate", "evaluate_per_query"]
