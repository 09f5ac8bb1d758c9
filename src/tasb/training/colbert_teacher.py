"""The dynamic in-batch teacher: ColBERT scores the ``b`` queries x ``2b`` passages of each batch during training.

ColBERT never learns here: it runs in eval mode under ``torch.no_grad()`` with its weights frozen. Its
passage token vectors can be computed once, in fp16, over every training passage (a
:class:`~tasb.models.colbert.PassageTokenCache`); each step then only encodes ``b`` short queries, so the
teacher costs almost nothing.
"""

from __future__ import annotations

import logging
from typing import Literal, Sequence

import torch
from torch import Tensor

from tasb.config import TrainConfig
from tasb.data.records import Corpus, ScoredPair
from tasb.errors import InputError
from tasb.models.colbert import ColBERT, PassageTokenCache, maxsim, pad_token_vectors
from tasb.models.inference import autocast

logger = logging.getLogger(__name__)

CacheMode = Literal["auto", "always", "never"]


class ColbertTeacher:
    """Scores a batch's queries against all of its passages: ``[b, 2b]``, without gradients."""

    def __init__(self, model: ColBERT, corpus: Corpus, cache: PassageTokenCache | None = None, scale: float = 1.0, bf16: bool = True):
        self.model = model
        self.corpus = corpus
        self.cache = cache
        self.scale = scale
        self.bf16 = bf16
        model.encoder.eval()
        model.encoder.requires_grad_(False)

    @classmethod
    def build(
        cls, model: ColBERT, corpus: Corpus, pids: Sequence[str], cache: CacheMode = "auto", max_gb: float = 4.0,
        scale: float = 1.0, bf16: bool = True, passages: PassageTokenCache | None = None,
    ) -> "ColbertTeacher":
        """``cache``: ``always`` caches every training passage, ``never`` scores on the fly, ``auto`` caches
        when the cache fits in ``max_gb``. ``passages``, a cache of the same model, is reused and extended."""
        if cache == "never":
            return cls(model, corpus, None, scale, bf16)
        passages = passages if passages is not None else PassageTokenCache(model, bf16)
        missing = sorted({pid for pid in pids if pid not in passages})
        size = passages.nbytes + passages.estimate_bytes([corpus[pid] for pid in missing])
        fits = size <= max_gb * 2**30
        logger.warning(
            "ColBERT passage cache: %d passages, %.2f GB in fp16 (limit %.1f GB)%s",
            len(passages) + len(missing), size / 2**30, max_gb,
            "" if fits or cache == "always" else ": scoring passages on the fly instead",
        )
        if cache == "auto" and not fits:
            return cls(model, corpus, None, scale, bf16)
        passages.add(missing, corpus)
        return cls(model, corpus, passages, scale, bf16)

    def scores(self, query_texts: Sequence[str], pids: Sequence[str]) -> Tensor:
        with torch.no_grad(), autocast(self.bf16, self.model.device.type):
            queries = self.model.query_tokens(query_texts)
            if self.cache is not None and all(pid in self.cache for pid in pids):
                passages = pad_token_vectors([self.cache.get(pid) for pid in pids])
            else:
                passages = self.model.passage_tokens([self.corpus[pid] for pid in pids])
            return maxsim(queries, passages).float() * self.scale


def build_colbert_teacher(
    config: TrainConfig, corpus: Corpus, pairs: Sequence[ScoredPair], model: ColBERT | None = None,
    passages: PassageTokenCache | None = None, device: str = "cpu",
) -> ColbertTeacher | None:
    """The in-batch teacher ``config`` asks for, over the passages of ``pairs``; None in pairwise mode.

    ``model`` (default: the ColBERT folder ``config.colbert_teacher``, loaded on ``device``: the student's, so a GPU
    student is not taught from the CPU) keeps the passage cache ``config.colbert_cache`` asks for; ``passages``, a
    cache of the same model, is reused and extended."""
    if config.teacher_mode == "pairwise":
        return None
    if model is None:
        if not config.colbert_teacher:
            raise InputError("colbert_teacher", f"a ColBERT folder (teacher_mode {config.teacher_mode} needs one)")
        model = ColBERT.for_scoring(config.colbert_teacher, device=device)
    pids = [pid for row in pairs for pid in (row.pid_pos, row.pid_neg)]
    return ColbertTeacher.build(
        model, corpus, pids, config.colbert_cache, config.colbert_cache_max_gb, _unfitted(config.colbert_scale), config.bf16, passages=passages
    )


def _unfitted(scale: float | None) -> float:
    # a null scale is fitted once the student is at hand (tasb.training.scales sets teacher.scale)
    return 1.0 if scale is None else scale
