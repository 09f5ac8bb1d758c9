"""BERT_DOT: one shared encoder for queries and passages, one pooled vector each, scored by dot product.

Stored as a sentence-transformers folder (Transformer → Pooling [→ Normalize]) so other tools load it
unchanged and score as tasb does: ``similarity_fn_name`` is ``dot`` (``cosine`` for a normalised student),
``encode_query`` truncates at the query length (the Transformer module's ``query_length``), ``encode_document``
and ``encode`` at the passage length. ``tasb.json`` repeats the lengths; the folder's ``README.md`` is its card
(:mod:`tasb.models.cards`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

from tasb.fsutil import atomic_dir
from tasb.layout import MODEL_META
from tasb.models.cards import hub_id, write_card
from tasb.models.inference import batched_inference, resolve_device
from tasb.models.resolve import loading, read_tasb_meta, resolve_model

Pooling_ = Literal["cls", "mean"]


class BertDot:
    """The student. ``embed`` keeps gradients for training; ``encode_*`` are batched, no-grad numpy."""

    def __init__(
        self, encoder: SentenceTransformer, query_max_length: int = 30, passage_max_length: int = 200, base_model: str | None = None
    ):
        self.encoder = encoder
        self.query_max_length = query_max_length
        self.passage_max_length = passage_max_length
        # what the weights started from, for the model card
        self.base_model = base_model
        # the score tasb searches with: sentence-transformers' similarity() then gives the same numbers
        self.encoder.similarity_fn_name = "cosine" if self.normalize else "dot"

    @classmethod
    def load(
        cls,
        name_or_path: str,
        pooling: Pooling_ | None = None,
        normalize: bool | None = None,
        query_max_length: int | None = None,
        passage_max_length: int | None = None,
        device: str = "cpu",
    ) -> "BertDot":
        """Load a sentence-transformers or plain Hugging Face folder (or hub id).

        ``None`` arguments keep what the folder says (its ``tasb.json``, then its modules); a plain
        transformer folder gets CLS pooling, the paper's BERT_DOT.
        """
        resolved = resolve_model(name_or_path)
        meta = read_tasb_meta(resolved)
        device = resolve_device(device)
        with loading(name_or_path):
            encoder = SentenceTransformer(resolved, device=device)
        modules = list(encoder.children())
        transformer = modules[0]
        if not isinstance(transformer, Transformer):
            raise ValueError(f"{name_or_path}: expected a Transformer as the first module, got {type(transformer).__name__}")
        old_pool = next((m for m in modules if isinstance(m, Pooling)), None)
        is_plain_hf = old_pool is not None and not meta and not _is_sentence_transformers_folder(resolved)
        mode = pooling or ("cls" if is_plain_hf else _pooling_mode(old_pool))
        keep_normalize = any(isinstance(m, Normalize) for m in modules) if normalize is None else normalize
        dim = transformer.get_embedding_dimension()
        parts = [transformer, Pooling(dim, pooling_mode=mode)] + ([Normalize()] if keep_normalize else [])
        rebuilt = SentenceTransformer(modules=parts, device=device)
        return cls(
            rebuilt,
            query_max_length=query_max_length or meta.get("query_max_length") or transformer.query_length or 30,
            passage_max_length=passage_max_length or meta.get("passage_max_length") or transformer.document_length or 200,
            base_model=name_or_path,
        )

    @property
    def _transformer(self) -> Transformer:
        return next(m for m in self.encoder.children() if isinstance(m, Transformer))

    @property
    def query_max_length(self) -> int:
        return self._transformer.query_length

    @query_max_length.setter
    def query_max_length(self, length: int) -> None:
        # sentence-transformers' encode_query (task "query") truncates there: the folder keeps it
        self._transformer.query_length = length

    @property
    def passage_max_length(self) -> int:
        return self._transformer.document_length

    @passage_max_length.setter
    def passage_max_length(self, length: int) -> None:
        # encode_document (task "document") truncates at document_length, plain encode at max_seq_length
        self._transformer.document_length = length
        self.encoder.max_seq_length = length

    @property
    def pooling(self) -> str:
        return _pooling_mode(next(m for m in self.encoder.children() if isinstance(m, Pooling)))

    @property
    def normalize(self) -> bool:
        return any(isinstance(m, Normalize) for m in self.encoder.children())

    @property
    def dim(self) -> int:
        return self.encoder.get_embedding_dimension()

    @property
    def tokenizer(self):
        return self.encoder.tokenizer

    def tokenize(self, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
        features = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        return {k: v.to(self.encoder.device) for k, v in features.items()}

    def embed(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encoder(dict(features))["sentence_embedding"]

    def embed_queries(self, texts: Sequence[str]) -> torch.Tensor:
        return self.embed(self.tokenize(texts, self.query_max_length))

    def embed_passages(self, texts: Sequence[str]) -> torch.Tensor:
        return self.embed(self.tokenize(texts, self.passage_max_length))

    def _encode(self, texts: Sequence[str], max_length: int, batch_size: int, bf16: bool, progress: str | None) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)

        def forward(idx: list[int]) -> torch.Tensor:
            return self.embed(self.tokenize([texts[i] for i in idx], max_length))

        return batched_inference(self.encoder, [len(t) for t in texts], forward, batch_size, bf16, progress)

    def encode_queries(self, texts: Sequence[str], batch_size: int = 256, bf16: bool = False, progress: str | None = None) -> np.ndarray:
        return self._encode(texts, self.query_max_length, batch_size, bf16, progress)

    def encode_passages(
        self, texts: Sequence[str], batch_size: int = 32, bf16: bool = False, progress: str | None = None, max_length: int | None = None
    ) -> np.ndarray:
        """Passage vectors, cut at ``max_length`` tokens (None: the student's ``passage_max_length``)."""
        return self._encode(texts, max_length or self.passage_max_length, batch_size, bf16, progress)

    def fingerprint(self) -> str:
        """A hash of the weights and settings that shape the vectors: an index remembers which model built it."""
        digest = hashlib.sha256(f"{self.pooling}|{self.normalize}|{self.query_max_length}|{self.passage_max_length}".encode())
        for name, tensor in sorted(self.encoder.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().float().numpy().tobytes())
        return digest.hexdigest()[:16]

    def save(self, path: str | Path, card: dict | None = None) -> None:
        """A sentence-transformers folder (plus ``tasb.json``), written under a temp name then swapped in.

        Its ``README.md`` is sentence-transformers' model card with tasb's part in it: the base model, and with
        ``card`` (see :mod:`tasb.models.cards`) the training data, recipe and metrics.
        """
        was_training = self.encoder.training
        card_data = self.encoder.model_card_data
        card_data.local_files_only = True  # the card never asks the hub (tasb runs without one)
        card_data.ir_model = True  # its usage example encodes with encode_query / encode_document
        card_data.base_model = card_data.base_model or hub_id(self.base_model)
        if self.base_model and not card_data.model_name:
            card_data.model_name = f"BERT_DOT student (tasb) based on {self.base_model}"
        card_data.add_tags("tasb")
        with atomic_dir(path) as tmp:
            self.encoder.save(str(tmp))
            # sentence-transformers' save switches to eval mode; a training run must keep its dropout
            self.encoder.train(was_training)
            meta = {
                "architecture": "BERT_DOT",
                "pooling": self.pooling,
                "normalize": self.normalize,
                "similarity": self.encoder.similarity_fn_name,
                "query_max_length": self.query_max_length,
                "passage_max_length": self.passage_max_length,
            }
            (tmp / MODEL_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            write_card(tmp, {"base_model": self.base_model, **(card or {})})


def _pooling_mode(pool: Pooling | None) -> str:
    if pool is None:
        return "cls"
    config = pool.get_config_dict()
    if config.get("pooling_mode_cls_token"):
        return "cls"
    if config.get("pooling_mode_mean_tokens"):
        return "mean"
    mode = config.get("pooling_mode")
    if mode in ("cls", "mean"):
        return mode
    raise ValueError(f"unsupported pooling {config}; BERT_DOT uses cls or mean")


def _is_sentence_transformers_folder(resolved: str) -> bool:
    """Whether the folder (or hub repo) names its own modules; without them sentence-transformers guesses mean pooling."""
    local = Path(resolved)
    if local.exists():
        return (local / "modules.json").exists()
    from huggingface_hub import file_exists

    return file_exists(resolved, "modules.json")
