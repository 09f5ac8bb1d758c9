"""BERT_CAT: query and passage concatenated through one BERT, a linear head on CLS gives the score (paper eq. 1).

Stored as a plain Hugging Face sequence-classification folder, so ``AutoModelForSequenceClassification``
and ``sentence_transformers.CrossEncoder`` load it unchanged and give the same (raw, un-squashed) scores;
the length cap lives in the tokenizer config and in ``tasb.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from tasb.errors import InputError
from tasb.fsutil import atomic_dir
from tasb.layout import MODEL_META
from tasb.models.cards import write_card
from tasb.models.inference import batched_inference, resolve_device
from tasb.models.resolve import loading, read_tasb_meta, resolve_model, transformer_folder

DEFAULT_MAX_LENGTH = 256
# sentence-transformers' CrossEncoder squashes single-label scores with a sigmoid unless the folder names
# another activation; the identity keeps its scores equal to ours (margins, not probabilities, are distilled)
_CROSS_ENCODER_ACTIVATION = {"activation_fn": "torch.nn.modules.linear.Identity"}


class BertCat:
    """The cross-encoder teacher. ``logits`` keeps gradients for training; ``score`` is batched, no-grad numpy."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_length: int = DEFAULT_MAX_LENGTH):
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        # sentence-transformers reads the cap from here, so a saved folder truncates as we do
        self.tokenizer.model_max_length = max_length

    @classmethod
    def load(cls, name_or_path: str, max_length: int | None = None, device: str = "cpu") -> "BertCat":
        """Load a cross-encoder folder or hub id, or start one from a bi-encoder / plain BERT.

        A sentence-transformers folder contributes its transformer weights; any folder without a
        classification head gets a freshly initialised score head W_s. ``max_length`` ``None`` keeps the
        folder's ``tasb.json`` value, else 256.
        """
        resolved = resolve_model(name_or_path)
        weights = transformer_folder(resolved)
        meta = read_tasb_meta(resolved)
        # fp32 master weights whatever the checkpoint's dtype: bf16 is applied per call through autocast
        with loading(name_or_path):
            # False, not transformers' default None, which asks on the terminal whether to run the folder's code
            model = AutoModelForSequenceClassification.from_pretrained(weights, num_labels=1, dtype=torch.float32, trust_remote_code=False)
            tokenizer = AutoTokenizer.from_pretrained(weights, trust_remote_code=False)
        return cls(model.to(resolve_device(device)), tokenizer, max_length or meta.get("max_length", DEFAULT_MAX_LENGTH))

    @property
    def device(self) -> torch.device:
        return self.model.device

    def tokenize(self, queries: Sequence[str], passages: Sequence[str]) -> dict[str, torch.Tensor]:
        """``[CLS] query [SEP] passage [SEP]``; only the passage is truncated, so the query is never cut."""
        if len(queries) != len(passages):
            raise ValueError(f"{len(queries)} queries but {len(passages)} passages: expected one passage per query")
        self._check_query_lengths(queries)
        features = self.tokenizer(
            list(queries), list(passages), padding=True, truncation="only_second",
            max_length=self.max_length, return_tensors="pt",
        )
        return {k: v.to(self.device) for k, v in features.items()}

    def _check_query_lengths(self, queries: Sequence[str]) -> None:
        # 3 special tokens plus at least one passage token must fit beside the whole query
        budget = self.max_length - 4
        lengths = self.tokenizer(list(queries), add_special_tokens=False)["input_ids"]
        for query, ids in zip(queries, lengths):
            if len(ids) > budget:
                raise InputError(None, f"queries of at most {budget} tokens for max_length {self.max_length}", query)

    def logits(self, queries: Sequence[str], passages: Sequence[str]) -> torch.Tensor:
        """One score per (query, passage), shape ``[n]``, with gradients."""
        return self.model(**self.tokenize(queries, passages)).logits.squeeze(-1)

    def score(
        self,
        queries: Sequence[str],
        passages: Sequence[str],
        batch_size: int = 32,
        bf16: bool = True,
        progress: str | None = None,
    ) -> np.ndarray:
        """Scores of (query, passage) pairs as float32, in input order."""
        if len(queries) != len(passages):
            raise ValueError(f"{len(queries)} queries but {len(passages)} passages: expected one passage per query")

        def forward(idx: list[int]) -> torch.Tensor:
            return self.logits([queries[i] for i in idx], [passages[i] for i in idx])

        lengths = [len(q) + len(p) for q, p in zip(queries, passages)]
        return batched_inference(self.model, lengths, forward, batch_size, bf16, progress, unit="pair")

    def save(self, path: str | Path, card: dict | None = None) -> None:
        """A Hugging Face folder (plus ``tasb.json`` and a ``README.md`` card with ``card``'s base model, data, recipe
        and metrics: :mod:`tasb.models.cards`), written under a temp name then swapped in."""
        config = self.model.config
        config.sentence_transformers = {**getattr(config, "sentence_transformers", {}), **_CROSS_ENCODER_ACTIVATION}
        with atomic_dir(path) as tmp:
            self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            meta = {"architecture": "BERT_CAT", "max_length": self.max_length}
            (tmp / MODEL_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            write_card(tmp, card)
