"""ColBERT: one shared encoder, a linear projection of every token, late interaction by max-sim (paper eq. 3).

``score(q, p) = sum over query tokens of the max cosine over passage tokens``. The projection may be the
identity, so a teacher can start in a bi-encoder's own token space (all-MiniLM-L6-v2's token vectors
already re-rank well). Stored as a sentence-transformers folder — Transformer, then a bias-free Dense
applied to ``token_embeddings`` — the layout late-interaction libraries such as PyLate read; lengths live
in ``tasb.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Dense, Transformer
from torch import Tensor

from tasb.errors import InputError
from tasb.fsutil import atomic_dir
from tasb.models.cards import write_card
from tasb.models.hub import TASB_META, loading, read_tasb_meta, resolve_model, transformer_folder
from tasb.models.inference import autocast

DEFAULT_DIM = 128


@dataclass
class TokenVectors:
    """Padded, L2-normalised token vectors ``[n, length, dim]`` and their mask ``[n, length]`` (1 = real token)."""

    vectors: Tensor
    mask: Tensor

    def __len__(self) -> int:
        return len(self.vectors)


def maxsim(queries: TokenVectors, passages: TokenVectors) -> Tensor:
    """Every query against every passage: ``[n_queries, n_passages]`` (the in-batch teacher's matrix)."""
    q = queries.vectors.float() * queries.mask.unsqueeze(-1)
    p = passages.vectors.float()
    similarity = torch.einsum("qid,pjd->qpij", q, p)
    # padding must never be the max: push it below any cosine
    similarity = similarity.masked_fill(~passages.mask.bool()[None, :, None, :], -1e4)
    return similarity.max(-1).values.sum(-1)


def maxsim_pairs(queries: TokenVectors, passages: TokenVectors) -> Tensor:
    """Query i against passage i only: ``[n]``."""
    if len(queries) != len(passages):
        raise ValueError(f"{len(queries)} queries but {len(passages)} passages: expected one passage per query")
    q = queries.vectors.float() * queries.mask.unsqueeze(-1)
    similarity = torch.einsum("nid,njd->nij", q, passages.vectors.float())
    similarity = similarity.masked_fill(~passages.mask.bool()[:, None, :], -1e4)
    return similarity.max(-1).values.sum(-1)


def pad_token_vectors(parts: Sequence[Tensor]) -> TokenVectors:
    """Variable-length ``[length_i, dim]`` tensors (e.g. from a cache) → one padded :class:`TokenVectors`."""
    longest = max(len(p) for p in parts)
    vectors = parts[0].new_zeros((len(parts), longest, parts[0].shape[-1]))
    mask = torch.zeros((len(parts), longest), dtype=torch.long)
    for i, part in enumerate(parts):
        vectors[i, : len(part)] = part
        mask[i, : len(part)] = 1
    return TokenVectors(vectors, mask)


FP16_BYTES = 2


class ColBERT:
    """The late-interaction teacher. ``tokens`` keeps gradients for training; ``encode_*`` and ``score`` do not."""

    def __init__(self, encoder: SentenceTransformer, query_max_length: int = 30, passage_max_length: int = 200):
        self.encoder = encoder
        self.query_max_length = query_max_length
        self.passage_max_length = passage_max_length
        # a new SentenceTransformer says training=True over an eval-mode BERT: encode/save would restore dropout
        self.encoder.eval()

    @classmethod
    def load(
        cls,
        name_or_path: str,
        dim: int | None = None,
        query_max_length: int | None = None,
        passage_max_length: int | None = None,
        device: str = "cpu",
        seed: int = 42,
    ) -> "ColBERT":
        """Load a ColBERT folder, or start one from any BERT / sentence-transformers weights.

        A folder saved by :meth:`save` keeps its projection. Any other model gets a new projection to
        ``dim`` dimensions (128 by default, the paper's), drawn from ``seed``; ``dim=0`` keeps the
        encoder's own token space (no projection).
        """
        resolved = resolve_model(name_or_path)
        meta = read_tasb_meta(resolved)
        if meta.get("architecture") == "ColBERT":
            with loading(name_or_path):
                encoder = SentenceTransformer(resolved, device=device)
            projected = any(isinstance(m, Dense) for m in encoder.children())
            if dim is not None and dim != meta["dim"] and not (dim == 0 and not projected):
                raise InputError(
                    resolved, f"a ColBERT of {dim or 'its encoder'}'s dims (a saved ColBERT keeps its projection: "
                    f"ask for dim {meta['dim'] if projected else 0})", f"{meta['dim']} dims",
                )
        else:
            with loading(name_or_path):
                encoder = _new_colbert(resolved, DEFAULT_DIM if dim is None else dim, device, seed)
        return cls(
            encoder,
            query_max_length=query_max_length or meta.get("query_max_length", 30),
            passage_max_length=passage_max_length or meta.get("passage_max_length", 200),
        )

    @classmethod
    def for_scoring(cls, name_or_path: str) -> "ColBERT":
        """A ColBERT to score with: a saved one as trained, any other model in its own token space.

        A new projection would be random and its scores noise, while an encoder's own token vectors rank
        well untrained (all-MiniLM-L6-v2 re-ranks SciFact's BM25 top-100 at .69 nDCG@10).
        """
        saved = read_tasb_meta(resolve_model(name_or_path)).get("architecture") == "ColBERT"
        return cls.load(name_or_path, dim=None if saved else 0)

    @property
    def passage_max_length(self) -> int:
        return self.encoder.max_seq_length

    @passage_max_length.setter
    def passage_max_length(self, length: int) -> None:
        # sentence-transformers truncates to max_seq_length: keep the two one value
        self.encoder.max_seq_length = length

    @property
    def dim(self) -> int:
        dense = next((m for m in self.encoder.children() if isinstance(m, Dense)), None)
        return dense.out_features if dense is not None else self._transformer.get_embedding_dimension()

    @property
    def _transformer(self) -> Transformer:
        return next(m for m in self.encoder.children() if isinstance(m, Transformer))

    @property
    def tokenizer(self):
        return self.encoder.tokenizer

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    def tokenize(self, texts: Sequence[str], max_length: int) -> dict[str, Tensor]:
        features = self.tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return {k: v.to(self.device) for k, v in features.items()}

    def tokens(self, features: dict[str, Tensor]) -> TokenVectors:
        """Projected, L2-normalised token vectors (padding zeroed), with gradients."""
        out = self.encoder(dict(features))
        mask = features["attention_mask"]
        vectors = F.normalize(out["token_embeddings"].float(), dim=-1) * mask.unsqueeze(-1)
        return TokenVectors(vectors, mask)

    def query_tokens(self, texts: Sequence[str]) -> TokenVectors:
        return self.tokens(self.tokenize(texts, self.query_max_length))

    def passage_tokens(self, texts: Sequence[str]) -> TokenVectors:
        return self.tokens(self.tokenize(texts, self.passage_max_length))

    def encode(
        self, texts: Sequence[str], max_length: int, batch_size: int = 32, bf16: bool = True, progress: str | None = None
    ) -> list[Tensor]:
        """Unpadded fp16 token vectors per text, ``[length_i, dim]``: what a passage cache holds."""
        from tqdm.auto import tqdm

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out: list[Tensor | None] = [None] * len(texts)
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            with torch.inference_mode(), autocast(bf16):
                for start in tqdm(range(0, len(order), batch_size), desc=progress, disable=progress is None, unit="batch"):
                    idx = order[start : start + batch_size]
                    batch = self.tokens(self.tokenize([texts[i] for i in idx], max_length))
                    lengths = batch.mask.sum(-1).tolist()
                    for row, i in enumerate(idx):
                        out[i] = batch.vectors[row, : lengths[row]].to(torch.float16).cpu()
        finally:
            self.encoder.train(was_training)
        return out  # type: ignore[return-value]

    def encode_queries(self, texts: Sequence[str], batch_size: int = 128, bf16: bool = True, progress: str | None = None) -> list[Tensor]:
        return self.encode(texts, self.query_max_length, batch_size, bf16, progress)

    def encode_passages(self, texts: Sequence[str], batch_size: int = 32, bf16: bool = True, progress: str | None = None) -> list[Tensor]:
        return self.encode(texts, self.passage_max_length, batch_size, bf16, progress)

    def score(self, queries: Sequence[str], passages: Sequence[str], batch_size: int = 32, bf16: bool = True,
              progress: str | None = None) -> np.ndarray:
        """Scores of (query, passage) pairs, in input order; each distinct text is encoded once."""
        if len(queries) != len(passages):
            raise ValueError(f"{len(queries)} queries but {len(passages)} passages: expected one passage per query")
        query_texts, query_index = _distinct(queries)
        passage_texts, passage_index = _distinct(passages)
        query_vectors = self.encode_queries(query_texts, bf16=bf16)
        passage_vectors = self.encode_passages(passage_texts, batch_size=batch_size, bf16=bf16, progress=progress)
        scores = np.empty(len(queries), dtype=np.float32)
        for start in range(0, len(queries), 256):
            rows = range(start, min(start + 256, len(queries)))
            q = pad_token_vectors([query_vectors[query_index[i]] for i in rows])
            p = pad_token_vectors([passage_vectors[passage_index[i]] for i in rows])
            scores[start : start + len(rows)] = maxsim_pairs(q, p).numpy()
        return scores

    def save(self, path: str | Path, card: dict | None = None) -> None:
        """A sentence-transformers folder (plus ``tasb.json`` and a ``README.md`` card with ``card``'s base model, data,
        recipe and metrics: :mod:`tasb.models.cards`), written under a temp name then swapped in."""
        was_training = self.encoder.training
        with atomic_dir(path) as tmp:
            # the model card's usage example assumes sentence embeddings, which a token model does not make
            self.encoder.save(str(tmp), create_model_card=False)
            self.encoder.train(was_training)
            meta = {
                "architecture": "ColBERT",
                "dim": self.dim,
                "similarity": "maxsim-cosine",
                "query_max_length": self.query_max_length,
                "passage_max_length": self.passage_max_length,
            }
            (tmp / TASB_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            write_card(tmp, card)


def _new_colbert(resolved: str, dim: int, device: str, seed: int) -> SentenceTransformer:
    # False, not transformers' default None, which asks on the terminal whether to run the folder's code
    untrusted = {"trust_remote_code": False}
    transformer = Transformer(transformer_folder(resolved), model_kwargs=untrusted, processor_kwargs=untrusted, config_kwargs=untrusted)
    modules: list[torch.nn.Module] = [transformer]
    if dim:
        generator = torch.Generator().manual_seed(seed)
        hidden = transformer.get_embedding_dimension()
        weight = torch.empty(dim, hidden).uniform_(-hidden**-0.5, hidden**-0.5, generator=generator)
        modules.append(
            Dense(hidden, dim, bias=False, activation_function=torch.nn.Identity(), init_weight=weight,
                  module_input_name="token_embeddings", module_output_name="token_embeddings")
        )
    return SentenceTransformer(modules=modules, device=device)



def _distinct(texts: Sequence[str]) -> tuple[list[str], list[int]]:
    position: dict[str, int] = {}
    index = [position.setdefault(text, len(position)) for text in texts]
    return list(position), index


class PassageTokenCache:
    """fp16 token vectors per passage id, each encoded once by one model.

    One cache can serve re-ranking, scoring training pairs and the in-batch teacher of the same ColBERT.
    """

    def __init__(self, model: ColBERT, bf16: bool = True, progress: str | None = "ColBERT passages"):
        self.model = model
        self.bf16 = bf16
        self.progress = progress
        self._vectors: dict[str, Tensor] = {}

    def __contains__(self, pid: str) -> bool:
        return pid in self._vectors

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, pid: str) -> Tensor:
        return self._vectors[pid]

    @property
    def nbytes(self) -> int:
        return sum(v.numel() * v.element_size() for v in self._vectors.values())

    def add(self, pids: Sequence[str], texts: dict[str, str]) -> None:
        """Encode the passages not cached yet (``texts`` maps passage id to text)."""
        missing = sorted(set(pids) - set(self._vectors))
        if missing:
            encoded = self.model.encode_passages([texts[pid] for pid in missing], bf16=self.bf16, progress=self.progress)
            self._vectors.update(zip(missing, encoded))

    def estimate_bytes(self, texts: Sequence[str]) -> int:
        """What caching ``texts`` will take: their token counts as ColBERT truncates them x dims x fp16."""
        if not texts:
            return 0
        lengths = self.model.tokenizer(list(texts), truncation=True, max_length=self.model.passage_max_length)["input_ids"]
        return sum(len(ids) for ids in lengths) * self.model.dim * FP16_BYTES
