"""BERT_DOT: one shared encoder for queries and passages, one pooled vector each, scored by dot product.

Stored as a sentence-transformers folder (Transformer → Pooling [→ Normalize]) so other tools load it
unchanged; the query length cap, which sentence-transformers has no field for, lives in ``tasb.json``.
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
from tasb.models.hub import TASB_META, loading, read_tasb_meta, resolve_model
from tasb.models.inference import batched_inference

Pooling_ = Literal["cls", "mean"]


class BertDot:
    """The student. ``embed`` keeps gradients for training; ``encode_*`` are batched, no-grad numpy."""

    def __init__(self, encoder: SentenceTransformer, query_max_length: int = 30, passage_max_length: int = 200):
        self.encoder = encoder
        self.query_max_length = query_max_length
        self.passage_max_length = passage_max_length
        self.encoder.max_seq_length = passage_max_length

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
            query_max_length=query_max_length or meta.get("query_max_length", 30),
            passage_max_length=passage_max_length or meta.get("passage_max_length", 200),
        )

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

    def encode_passages(self, texts: Sequence[str], batch_size: int = 32, bf16: bool = False, progress: str | None = None) -> np.ndarray:
        return self._encode(texts, self.passage_max_length, batch_size, bf16, progress)

    def fingerprint(self) -> str:
        """A hash of the weights and settings that shape the vectors: an index remembers which model built it."""
        digest = hashlib.sha256(f"{self.pooling}|{self.normalize}|{self.query_max_length}|{self.passage_max_length}".encode())
        for name, tensor in sorted(self.encoder.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().float().numpy().tobytes())
        return digest.hexdigest()[:16]

    def save(self, path: str | Path) -> None:
        """A sentence-transformers folder (plus ``tasb.json``), written under a temp name then swapped in."""
        was_training = self.encoder.training
        with atomic_dir(path) as tmp:
            self.encoder.save(str(tmp))
            # sentence-transformers' save switches to eval mode; a training run must keep its dropout
            self.encoder.train(was_training)
            meta = {
                "architecture": "BERT_DOT",
                "pooling": self.pooling,
                "normalize": self.normalize,
                "query_max_length": self.query_max_length,
                "passage_max_length": self.passage_max_length,
            }
            (tmp / TASB_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


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
