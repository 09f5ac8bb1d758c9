"""Encoding a corpus, dense indexes and search, BM25, fusion and re-ranking."""
