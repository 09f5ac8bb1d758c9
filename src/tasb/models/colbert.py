"""ColBERT: one shared encoder, a linear projection of every token, late interaction by max-sim (paper eq. 3).

``score(q, p) = sum over query tokens of the max cosine over passage tokens``. The projection may be the
identity, so a teacher can start in a bi-encoder's own token space (all-MiniLM-L6-v2's token vectors
already re-rank well).

A ColBERT is a sentence-transformers :class:`~sentence_transformers.MultiVectorEncoder` and is saved as one,
so ``MultiVectorEncoder(path)`` loads it natively and scores as tasb does: a ``Transformer`` (whose
``query_length`` / ``document_length`` are tasb's query and passage lengths; no query expansion), a bias-free
``Dense`` on ``token_embeddings`` when there is a projection, a ``MultiVectorMask`` (tasb skips no token: an
empty skiplist), a token-level ``Normalize``; no query or document marker (empty prompts) and ``maxsim``.
``tasb.json`` repeats the dim and lengths for tasb's cards. Any ``MultiVectorEncoder`` folder (markers,
punctuation skiplist, query expansion and all) loads back and scores exactly as sentence-transformers does,
and so do tasb's older folders (a plain sentence-transformers folder with ``tasb.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sentence_transformers import MultiVectorEncoder, SentenceTransformer
from sentence_transformers.base.modules import Dense, Normalize, Transformer
from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask
from sentence_transformers.util import batch_to_device
from sentence_transformers.util.similarity import maxsim as _st_maxsim
from sentence_transformers.util.similarity import maxsim_pairwise as _st_maxsim_pairwise
from torch import Tensor

from tasb.errors import InputError
from tasb.fsutil import atomic_dir
from tasb.layout import MODEL_META
from tasb.models.cards import write_card
from tasb.models.inference import autocast, resolve_device
from tasb.models.resolve import loading, read_tasb_meta, resolve_model, transformer_folder

DEFAULT_DIM = 128
# the two sides of late interaction, as sentence-transformers names them (its "task")
Task = Literal["query", "document"]


@dataclass
class TokenVectors:
    """Padded, L2-normalised token vectors ``[n, length, dim]`` and their mask ``[n, length]`` (1 = real token)."""

    vectors: Tensor
    mask: Tensor

    def __len__(self) -> int:
        return len(self.vectors)

    def to(self, device: torch.device | str) -> TokenVectors:
        return TokenVectors(self.vectors.to(device), self.mask.to(device))


def maxsim(queries: TokenVectors, passages: TokenVectors) -> Tensor:
    """Every query against every passage: ``[n_queries, n_passages]`` (the in-batch teacher's matrix).

    sentence-transformers' MaxSim (what ``MultiVectorEncoder.similarity`` scores with): padding never wins a
    max, query padding adds nothing. Fed fp32, it gives tasb's former einsum's numbers bit for bit and is no
    slower; fed the cache's fp16 it would multiply in half precision, slower on a CPU and off in the 4th digit.
    Scored on the queries' device (the model's: a passage cache lives on the CPU, where sentence-transformers
    would otherwise score), a chunk of passages at a time.
    """
    device = queries.vectors.device
    return _st_maxsim(
        queries.vectors.float(), passages.vectors.float(), a_mask=queries.mask, b_mask=passages.mask, device=device
    ).to(device)


def maxsim_pairs(queries: TokenVectors, passages: TokenVectors) -> Tensor:
    """Query i against passage i only: ``[n]`` (sentence-transformers' pairwise MaxSim, in fp32 as :func:`maxsim`)."""
    if len(queries) != len(passages):
        raise ValueError(f"{len(queries)} queries but {len(passages)} passages: expected one passage per query")
    device = queries.vectors.device
    return _st_maxsim_pairwise(
        queries.vectors.float(), passages.vectors.float(), a_mask=queries.mask, b_mask=passages.mask, device=device
    ).to(device)


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
    """The late-interaction teacher. ``tokens`` keeps gradients for training; ``encode_*`` and ``score`` do not.

    ``encoder`` is a :class:`~sentence_transformers.MultiVectorEncoder`: queries and passages go through its
    own preprocessing (prompts as markers, per-task lengths, query expansion) and modules (projection,
    skiplist mask, normalisation), so tasb's vectors are the ones ``encode_query`` / ``encode_document`` give.
    Lengths left ``None`` keep the encoder's own.
    """

    def __init__(self, encoder: MultiVectorEncoder, query_max_length: int | None = 30, passage_max_length: int | None = 200):
        self.encoder = encoder
        if query_max_length is not None:
            self.query_max_length = query_max_length
        if passage_max_length is not None:
            self.passage_max_length = passage_max_length
        # a new model says training=True over an eval-mode BERT: encode/save would restore dropout
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

        A ColBERT folder — tasb's, any ``MultiVectorEncoder`` folder, or tasb's older layout (a plain
        sentence-transformers folder with ``tasb.json``) — keeps its projection, markers, skiplist and lengths
        (unless lengths are given). Any other model gets a new projection to ``dim`` dimensions (128 by
        default, the paper's), drawn from ``seed``; ``dim=0`` keeps the encoder's own token space (no projection).
        """
        resolved = resolve_model(name_or_path)
        meta = read_tasb_meta(resolved)
        kind = _colbert_folder(resolved)
        device = resolve_device(device)
        with loading(name_or_path):
            if kind == "multi-vector":
                encoder = MultiVectorEncoder(resolved, device=device, trust_remote_code=False)
            elif kind == "tasb-legacy":
                encoder = _from_legacy_folder(resolved, device)
            else:
                encoder = _new_colbert(resolved, DEFAULT_DIM if dim is None else dim, device, seed)
        if kind == "multi-vector":
            model = cls(encoder, query_max_length, passage_max_length)
        else:
            model = cls(
                encoder,
                query_max_length=query_max_length or meta.get("query_max_length", 30),
                passage_max_length=passage_max_length or meta.get("passage_max_length", 200),
            )
        if kind is not None and dim is not None and dim != model.dim and not (dim == 0 and not model.projected):
            raise InputError(
                resolved, f"a ColBERT of {dim or 'its encoder'}'s dims (a saved ColBERT keeps its projection: "
                f"ask for dim {model.dim if model.projected else 0})", f"{model.dim} dims",
            )
        return model

    @classmethod
    def for_scoring(cls, name_or_path: str, device: str = "cpu") -> "ColBERT":
        """A ColBERT to score with: a saved one (tasb's or any ``MultiVectorEncoder``) as trained, any other model
        in its own token space.

        A new projection would be random and its scores noise, while an encoder's own token vectors rank
        well untrained (all-MiniLM-L6-v2 re-ranks SciFact's BM25 top-100 at .69 nDCG@10).
        """
        saved = _colbert_folder(resolve_model(name_or_path)) is not None
        return cls.load(name_or_path, dim=None if saved else 0, device=device)

    @property
    def query_max_length(self) -> int:
        transformer = self._transformer
        expansion = transformer.query_expansion
        if expansion is not None and expansion["strategy"] == "fixed":
            return expansion["length"]  # a ColBERT with query expansion pads and truncates every query to this
        return transformer.query_length if transformer.query_length is not None else transformer.max_seq_length

    @query_max_length.setter
    def query_max_length(self, length: int) -> None:
        # the Transformer module truncates queries (task "query") to query_length: MultiVectorEncoder reads it there
        self._transformer.query_length = length

    @property
    def passage_max_length(self) -> int:
        transformer = self._transformer
        return transformer.document_length if transformer.document_length is not None else transformer.max_seq_length

    @passage_max_length.setter
    def passage_max_length(self, length: int) -> None:
        self._transformer.document_length = length

    @property
    def dim(self) -> int:
        dense = [m for m in self.encoder.children() if isinstance(m, Dense)]
        return dense[-1].out_features if dense else self._transformer.get_embedding_dimension()

    @property
    def projected(self) -> bool:
        """Whether token vectors are projected (a ``Dense``), or stay in the encoder's own space."""
        return any(isinstance(m, Dense) for m in self.encoder.children())

    @property
    def _transformer(self) -> Transformer:
        return next(m for m in self.encoder.children() if isinstance(m, Transformer))

    @property
    def tokenizer(self):
        return self.encoder.tokenizer

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    def prompt(self, task: Task) -> str | None:
        """The marker text put before a query's or a passage's text, as ``encode_query`` / ``encode_document`` pick it."""
        prompts = self.encoder.prompts
        names = ("query",) if task == "query" else ("document", "passage", "corpus")
        name = next((n for n in names if n in prompts), self.encoder.default_prompt_name)
        return prompts.get(name) if name is not None else None

    def tokenize(self, texts: Sequence[str], max_length: int | None = None, task: Task = "document") -> dict[str, Tensor]:
        """Model inputs for ``texts`` as queries or passages (``task``): marker, truncation to the task's length
        (or ``max_length``), query expansion, exactly as ``MultiVectorEncoder`` prepares them."""
        kwargs = {} if max_length is None else {"max_length": max_length}
        features = self.encoder.preprocess(list(texts), prompt=self.prompt(task), task=task, **kwargs)
        return batch_to_device(features, self.device)

    def tokens(self, features: dict[str, Tensor], task: Task = "document") -> TokenVectors:
        """Projected, L2-normalised token vectors, zeroed where not scored (padding, skiplist), with gradients."""
        out = self.encoder(dict(features), task=task)
        # the MultiVectorMask module leaves the scoring mask here: real tokens (plus query expansion) minus skiplist
        mask = out["attention_mask"].long()
        vectors = out["token_embeddings"].float()
        if self._normalized:
            # again in fp32: under bf16 autocast the Normalize module's output is unit length only to bf16 precision
            vectors = F.normalize(vectors, dim=-1)
        return TokenVectors(vectors * mask.unsqueeze(-1), mask)

    @property
    def _normalized(self) -> bool:
        return any(isinstance(m, Normalize) and m.module_output_name == "token_embeddings" for m in self.encoder.children())

    def query_tokens(self, texts: Sequence[str]) -> TokenVectors:
        return self.tokens(self.tokenize(texts, task="query"), task="query")

    def passage_tokens(self, texts: Sequence[str]) -> TokenVectors:
        return self.tokens(self.tokenize(texts, task="document"), task="document")

    def encode(
        self, texts: Sequence[str], max_length: int | None = None, batch_size: int = 32, bf16: bool = True,
        progress: str | None = None, task: Task = "document",
    ) -> list[Tensor]:
        """Unpadded fp16 token vectors per text, ``[scored tokens_i, dim]``: what a passage cache holds."""
        from tqdm.auto import tqdm

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out: list[Tensor | None] = [None] * len(texts)
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            with torch.inference_mode(), autocast(bf16, self.device.type):
                for start in tqdm(range(0, len(order), batch_size), desc=progress, disable=progress is None, unit="batch"):
                    idx = order[start : start + batch_size]
                    batch = self.tokens(self.tokenize([texts[i] for i in idx], max_length, task), task)
                    for row, i in enumerate(idx):
                        out[i] = batch.vectors[row][batch.mask[row].bool()].to(torch.float16).cpu()
        finally:
            self.encoder.train(was_training)
        return out  # type: ignore[return-value]

    def encode_queries(self, texts: Sequence[str], batch_size: int = 128, bf16: bool = True, progress: str | None = None) -> list[Tensor]:
        return self.encode(texts, None, batch_size, bf16, progress, task="query")

    def encode_passages(self, texts: Sequence[str], batch_size: int = 32, bf16: bool = True, progress: str | None = None) -> list[Tensor]:
        return self.encode(texts, None, batch_size, bf16, progress, task="document")

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
            q = pad_token_vectors([query_vectors[query_index[i]] for i in rows]).to(self.device)
            p = pad_token_vectors([passage_vectors[passage_index[i]] for i in rows])
            scores[start : start + len(rows)] = maxsim_pairs(q, p).cpu().numpy()
        return scores

    def save(self, path: str | Path, card: dict | None = None) -> None:
        """A ``MultiVectorEncoder`` folder (plus ``tasb.json`` and a ``README.md`` card with ``card``'s base model,
        data, recipe and metrics: :mod:`tasb.models.cards`), written under a temp name then swapped in."""
        was_training = self.encoder.training
        with atomic_dir(path) as tmp:
            # tasb writes its own card (sentence-transformers' would describe no tasb recipe)
            self.encoder.save(str(tmp), create_model_card=False)
            self.encoder.train(was_training)
            meta = {
                "architecture": "ColBERT",
                "dim": self.dim,
                "similarity": "maxsim-cosine",
                "query_max_length": self.query_max_length,
                "passage_max_length": self.passage_max_length,
            }
            (tmp / MODEL_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            write_card(tmp, card)


def _colbert_folder(resolved: str) -> Literal["multi-vector", "tasb-legacy"] | None:
    """What a local folder holds: a ``MultiVectorEncoder`` (sentence-transformers', PyLate's or Stanford's ColBERT
    layout), tasb's older ColBERT layout, or neither (``None``: a model to start a ColBERT from)."""
    folder = Path(resolved)
    st_config = folder / "config_sentence_transformers.json"
    if st_config.is_file():
        if json.loads(st_config.read_text(encoding="utf-8")).get("model_type") in ("MultiVectorEncoder", "ColBERT"):
            return "multi-vector"
    hf_config = folder / "config.json"
    if hf_config.is_file() and "HF_ColBERT" in (json.loads(hf_config.read_text(encoding="utf-8")).get("architectures") or []):
        return "multi-vector"
    if read_tasb_meta(resolved).get("architecture") == "ColBERT":
        return "tasb-legacy"
    return None


def _multi_vector(modules: list[torch.nn.Module], device: str) -> MultiVectorEncoder:
    # tasb's ColBERT as sentence-transformers spells it: no skiplist (tasb scores every token), token-level
    # cosine, no markers, MaxSim
    modules = [*modules, MultiVectorMask(skiplist_words=[]), Normalize(module_input_name="token_embeddings")]
    return MultiVectorEncoder(modules=modules, device=device, similarity_fn_name="maxsim")


def _from_legacy_folder(resolved: str, device: str) -> MultiVectorEncoder:
    """tasb's ColBERT folders before they were ``MultiVectorEncoder`` folders: Transformer (+ Dense on
    ``token_embeddings``), normalised and max-summed by tasb's code; lengths in ``tasb.json``."""
    return _multi_vector(list(SentenceTransformer(resolved, device=device).children()), device)


def _new_colbert(resolved: str, dim: int, device: str, seed: int) -> MultiVectorEncoder:
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
    return _multi_vector(modules, device)


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
        """What caching ``texts`` will take, at most: their token counts as ColBERT truncates them (marker included,
        skiplist not subtracted) x dims x fp16."""
        if not texts:
            return 0
        marker = self.model.prompt("document") or ""
        lengths = self.model.tokenizer(
            [marker + text for text in texts], truncation=True, max_length=self.model.passage_max_length
        )["input_ids"]
        return sum(len(ids) for ids in lengths) * self.model.dim * FP16_BYTES
