"""Model cards: a ``README.md`` in every model folder tasb saves, naming its base model, data, recipe and metrics.

The card is rendered from a plain dict (``info``) the caller passes, beside what the folder's ``tasb.json``
says about the model (architecture, similarity, lengths)::

    {
        "base_model": "all-MiniLM-L6-v2",                 # what training started from
        "data": {"data": "../shared/data/scifact", "split": "train", "training queries": 728},
        "recipe": {"teacher": "...", "sampler": "tas-balanced", "steps": 250, "batch size": 32, ...},
        "metrics": {"validation (81 held-out queries)": {"nDCG@10": 0.794, "step": 250}},
        "notes": ["..."],
    }

Every key is optional. A student folder already holds sentence-transformers' own card (its usage example,
architecture, similarity function, query and document lengths, framework versions); tasb's part goes between
two markers inside it, before "Training Details". A ColBERT or cross-encoder folder gets a card of its own
with the same part. The info is also kept in ``tasb.json`` (``"card"``), so :func:`write_card` can add to a
saved card later, e.g. the test metrics a pipeline measures after training.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from tasb.fsutil import atomic_write, write_json
from tasb.layout import MODEL_CARD, MODEL_META
from tasb.markdown import markdown_table

__all__ = [
    "colbert_card", "cross_encoder_card", "hub_id", "logged_training", "render_card", "render_section", "student_card",
    "write_card",
]

BEGIN = "<!-- tasb card: begin (written by tasb; rewritten with the card) -->"
END = "<!-- tasb card: end -->"

# names tasb resolves to a packaged copy of a hub model (tasb.models.resolve), by their hub id
_HUB_IDS = {
    "all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "sentence-transformers/all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2",
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def hub_id(name: str | None) -> str | None:
    """The Hugging Face hub id ``name`` stands for, or ``None`` for a local folder (which has none)."""
    if not name:
        return None
    if name.lower() in _HUB_IDS:
        return _HUB_IDS[name.lower()]
    if Path(name).expanduser().exists() or not _HUB_ID.match(name):
        return None
    return name


def write_card(folder: str | Path, info: Mapping[str, Any] | None = None, merge: bool = True) -> Path:
    """Write (or rewrite) the card of the model in ``folder`` from its ``tasb.json`` and ``info``.

    With ``merge`` the info joins what the folder's card already holds (nested dicts merged, so new metrics
    sit beside earlier ones); otherwise it replaces it. A ``README.md`` another tool wrote (sentence-transformers'
    card) keeps its content: tasb's part replaces its earlier one, or goes before "Training Details".
    Returns the card's path.
    """
    folder = Path(folder)
    meta_path = folder / MODEL_META
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    card_info = _merged(meta.get("card", {}), info or {}) if merge else dict(info or {})
    if card_info != meta.get("card", {}) and meta_path.is_file():
        write_json(meta_path, {**meta, "card": _plain(card_info)})
    st_config = folder / "config_sentence_transformers.json"
    if st_config.is_file():  # which sentence-transformers class the folder loads as: how its card says to use it
        meta = {**meta, "model_type": json.loads(st_config.read_text(encoding="utf-8")).get("model_type")}
    path = folder / MODEL_CARD
    existing = path.read_text(encoding="utf-8") if path.is_file() else None
    text = render_card(meta, card_info) if existing is None else _spliced(existing, render_section(meta, card_info))
    with atomic_write(path) as handle:
        handle.write(text)
    return path


def render_card(meta: Mapping[str, Any], info: Mapping[str, Any]) -> str:
    """A whole card (front matter, title, tasb's part) for a folder without a card of its own."""
    kind = _KINDS.get(meta.get("architecture", ""), _KINDS[""])
    base = hub_id(info.get("base_model"))
    tags, pipeline_tag = ["tasb", *kind["tags"]], kind["pipeline_tag"]
    if meta.get("model_type") == "MultiVectorEncoder":  # as sentence-transformers tags its multi-vector models
        tags, pipeline_tag = [*tags, "sentence-transformers", "multi-vector"], "feature-extraction"
    front = {"library_name": kind["library"], "pipeline_tag": pipeline_tag, "tags": tags, "base_model": base}
    front_matter = yaml.safe_dump({k: v for k, v in front.items() if v}, sort_keys=False).strip()
    title = kind["title"] + (f" based on {info['base_model']}" if info.get("base_model") else "")
    return f"---\n{front_matter}\n---\n\n# {title}\n\n{kind['summary']}\n\n{render_section(meta, info)}"


def render_section(meta: Mapping[str, Any], info: Mapping[str, Any]) -> str:
    """tasb's part of a card, between the markers: how tasb uses the model, its data, recipe and metrics."""
    lines = [BEGIN, "## Training with tasb", ""]
    lines += ["### How tasb uses it", "", *_model_lines(meta, info), ""]
    data = info.get("data") or {}
    recipe = info.get("recipe") or {}
    metrics = info.get("metrics") or {}
    if not (data or recipe or metrics):
        lines += ["tasb recorded no training recipe for this folder: an untrained model, a checkpoint, or a model", "another trainer fine-tuned (its own card sections, if any, say how).", ""]
    if data:
        lines += ["### Training data", "", *_bullets(data), ""]
    if recipe:
        rows = [[_cell(name), _cell(_value(value))] for name, value in recipe.items() if value not in (None, "")]
        lines += ["### Recipe", "", *markdown_table(["setting", "value"], rows), ""]
    if metrics:
        rows = [
            [_cell(where), _cell(name), _cell(_value(value))]
            for where, values in metrics.items()
            for name, value in (values if isinstance(values, Mapping) else {"value": values}).items()
        ]
        lines += ["### Metrics", "", *markdown_table(["measured on", "measure", "value"], rows), ""]
    for note in info.get("notes") or []:
        lines += [note, ""]
    return "\n".join(lines + [END]) + "\n"


# --- what the trainers know, as card info -------------------------------------------------------------------


def student_card(
    config: Any,
    metrics: Mapping[str, Any] | None = None,
    training_queries: int | None = None,
    validation_queries: int | None = None,
    loss: Any = None,
) -> dict[str, Any]:
    """Card info of a student trained from ``config`` (a :class:`tasb.config.TrainConfig`) with the run's ``metrics``.

    ``loss``: the :class:`tasb.training.dual.DualLoss` as trained, whose label weight is 0 where the data held no
    judgments and whose label scale is resolved; without it the config's values are shown.
    """
    metrics = dict(metrics or {})
    label_weight = getattr(loss, "contrastive_weight", config.contrastive_weight)
    label_scale = getattr(loss, "contrastive_scale", config.contrastive_scale)
    losses = []
    if config.teacher_mode in ("pairwise", "dual"):
        losses.append(f"{_value(config.pairwise_weight)} × pairwise Margin-MSE (eq. 6) on the score file's margins")
    if config.teacher_mode in ("in-batch", "dual"):
        weight = config.alpha if config.teacher_mode == "dual" else 1.0
        losses.append(f"{_value(weight)} × in-batch {config.inbatch_loss} (eq. 7) against the ColBERT's scores × {_value(config.colbert_scale)}")
    if label_weight > 0:
        scale = "20 (cosine) / 1 (dot)" if label_scale is None else _value(label_scale)
        losses.append(f"{_value(label_weight)} × labels: cross-entropy of the judged positive over the batch, scale {scale}")
    teachers = []
    if config.teacher_mode in ("pairwise", "dual"):
        teachers.append(f"pairwise: score file `{config.teacher_scores}`" if config.teacher_scores else "pairwise: a score file")
    if config.teacher_mode in ("in-batch", "dual"):
        teachers.append(f"in-batch: ColBERT `{config.colbert_teacher}`" if config.colbert_teacher else "in-batch: a ColBERT")
    sampler = config.sampler
    if sampler in ("tas", "tas-balanced"):
        sampler += f" ({config.clusters_per_batch} cluster(s) per batch from `{config.clusters}`"
        sampler += f", {config.margin_bins} margin ranges)" if config.sampler == "tas-balanced" else ")"
    recipe = {
        "teacher": "; ".join(teachers),
        "teacher mode": config.teacher_mode,
        "sampler": sampler,
        "loss": "; plus ".join(losses),
        "score scale": config.score_scale if config.score_scale != 1 else None,
        "steps": _steps(config.steps, metrics),
        "time budget": f"{_value(config.max_minutes)} min" if config.max_minutes is not None else None,
        "batch size": config.batch_size,
        "learning rate": config.learning_rate,
        "warm-up steps": config.warmup_steps,
        "training passage length": (
            f"{config.student.training_passage_max_length} tokens (the model encodes passages at its own length)"
            if config.student.training_passage_max_length else None
        ),
        "optimiser": "Adam, constant rate after warm-up",
        "bf16": config.bf16,
        "seed": config.seed,
    }
    data = {
        "data": _data_name(config.data),
        "split": config.data.split,
        "training queries": training_queries,
        "validation queries": validation_queries or None,
    }
    measured: dict[str, Any] = {}
    if metrics.get("best_validation") is not None:
        held_out = f"validation ({validation_queries} held-out queries)" if validation_queries else "validation"
        measured[held_out] = {metrics.get("validation_metric", "score"): metrics["best_validation"], "step kept": metrics.get("best_step")}
    training = {"final loss": metrics.get("final_loss"), "seconds": metrics.get("seconds")}
    if any(v is not None for v in training.values()):
        measured["training"] = {k: v for k, v in training.items() if v is not None}
    return {
        "base_model": config.student.model,
        "data": {k: v for k, v in data.items() if v is not None},
        "recipe": {k: v for k, v in recipe.items() if v not in (None, "")},
        "metrics": measured,
    }


def colbert_card(
    config: Any, queries: Mapping | None = None, qrels: Mapping | None = None, scores: Sequence | None = None,
    log: str | Path | None = None,
) -> dict[str, Any]:
    """Card info of a ColBERT trained from ``config`` (a :class:`tasb.config.ColbertConfig`); ``log``: its ``teacher_log.jsonl``."""
    steps, loss = logged_training(log)
    listwise = config.loss in ("listwise", "both")
    margin = config.loss in ("margin-mse", "both")
    losses = []
    if listwise:
        negatives = f"{config.num_negatives} negatives from the run's top {config.negatives_depth}"
        losses.append(f"listwise softmax cross-entropy: judged positive vs {negatives}" + (", plus in-batch negatives" if config.in_batch_negatives else ""))
    if margin:
        losses.append(f"Margin-MSE on the score file `{config.teacher_scores}`" if config.teacher_scores else "Margin-MSE on a score file")
    recipe = {
        "projection": f"{config.dim} dims" if config.dim else "none (the encoder's own token space)",
        "loss": "; plus ".join(losses),
        "steps": _steps(config.steps, {"steps": steps}),
        "time budget": f"{_value(config.max_minutes)} min" if config.max_minutes is not None else None,
        "batch size": config.batch_size,
        "learning rate": config.learning_rate,
        "warm-up steps": config.warmup_steps,
        "optimiser": "AdamW, linear warm-up and decay",
        "training lengths": f"queries {config.query_max_length}, passages {config.passage_max_length} tokens",
        "bf16": config.bf16,
        "seed": config.seed,
    }
    data = {
        "queries given": len(queries) if queries is not None else None,
        "judged queries": _judged(qrels) if listwise and qrels is not None else None,
        "scored queries": len({pair.qid for pair in scores}) if margin and scores else None,
        "score pairs": len(scores) if margin and scores else None,
    }
    return _teacher_info(config.model, data, recipe, loss)


def cross_encoder_card(
    config: Any, queries: Mapping | None = None, qrels: Mapping | None = None, training_queries: int | None = None,
    log: str | Path | None = None,
) -> dict[str, Any]:
    """Card info of a BERT_CAT trained from ``config`` (a :class:`tasb.config.TeacherConfig`); ``log``: its ``teacher_log.jsonl``."""
    steps, loss = logged_training(log)
    recipe = {
        "loss": f"{config.loss}: judged positive vs {config.num_negatives} negatives from the run's top {config.negatives_depth}",
        "steps": _steps(config.steps, {"steps": steps}),
        "time budget": f"{_value(config.max_minutes)} min" if config.max_minutes is not None else None,
        "batch size": f"{config.batch_size} queries × {1 + config.num_negatives} passages",
        "learning rate": config.learning_rate,
        "warm-up steps": config.warmup_steps,
        "optimiser": "AdamW, linear warm-up and decay",
        "bf16": config.bf16,
        "seed": config.seed,
    }
    data = {
        "queries given": len(queries) if queries is not None else None,
        "judged queries": _judged(qrels) if qrels is not None else None,
        "training queries": training_queries,
    }
    return _teacher_info(config.model, data, recipe, loss)


def logged_training(log: str | Path | None, last: int = 10) -> tuple[int | None, float | None]:
    """Steps taken and the mean loss of the last ``last`` steps, from a ``teacher_log.jsonl`` (one JSON line a step)."""
    if log is None or not Path(log).is_file():
        return None, None
    lines = [json.loads(line) for line in Path(log).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        return 0, None
    tail = [line["loss"] for line in lines[-last:] if "loss" in line]
    return lines[-1].get("step", len(lines)), (sum(tail) / len(tail) if tail else None)


# --- rendering ----------------------------------------------------------------------------------------------

_KINDS: dict[str, dict[str, Any]] = {
    "BERT_DOT": {
        "title": "BERT_DOT dense retriever", "library": "sentence-transformers", "pipeline_tag": "sentence-similarity",
        "tags": ["sentence-transformers", "dense-retrieval"],
        "summary": "A dense passage retriever: one shared encoder, one vector per query or passage, trained with tasb.",
    },
    "ColBERT": {
        "title": "ColBERT late-interaction model", "library": "sentence-transformers", "pipeline_tag": None,
        "tags": ["colbert", "late-interaction"],
        "summary": (
            "A late-interaction (ColBERT) scorer trained with tasb, as a teacher and re-ranker: one vector per token, a query's "
            "score for a passage is the sum over its tokens of the best cosine with any passage token."
        ),
    },
    "BERT_CAT": {
        "title": "BERT_CAT cross-encoder", "library": "sentence-transformers", "pipeline_tag": "text-ranking",
        "tags": ["cross-encoder", "reranker"],
        "summary": (
            "A cross-encoder (BERT_CAT) trained with tasb, as a teacher and re-ranker: the query and passage go through "
            "the encoder together and a linear head on CLS gives the score."
        ),
    },
    "": {"title": "Model", "library": None, "pipeline_tag": None, "tags": [], "summary": "A model saved by tasb."},
}


def _model_lines(meta: Mapping[str, Any], info: Mapping[str, Any]) -> list[str]:
    architecture = meta.get("architecture", "")
    lines = [f"- **Base model:** {_base(info.get('base_model'))}"]
    if architecture == "BERT_DOT":
        similarity = meta.get("similarity") or ("cosine" if meta.get("normalize") else "dot")
        lines += [
            f"- **Architecture:** BERT_DOT: {meta.get('pooling', 'cls')} pooling, "
            + ("normalised vectors" if meta.get("normalize") else "no normalisation"),
            f"- **Similarity:** {'dot product' if similarity == 'dot' else 'cosine'}, the score tasb's index searches with; "
            f"the folder says `\"similarity_fn_name\": \"{similarity}\"`, so `SentenceTransformer(path).similarity` gives the same scores",
            f"- **Query length:** {meta.get('query_max_length')} tokens: `encode_query` truncates there (the Transformer "
            "module's `query_length`); tasb's `tasb.json` holds the same value",
            f"- **Passage length:** {meta.get('passage_max_length')} tokens: `encode_document` (`document_length`) and plain "
            "`encode` (`max_seq_length`) truncate there, so encode queries with `encode_query`, not `encode`",
        ]
    elif architecture == "ColBERT":
        lines += [
            f"- **Architecture:** ColBERT, {meta.get('dim')}-dim token vectors, L2-normalised",
            f"- **Similarity:** {meta.get('similarity', 'maxsim-cosine')}",
            f"- **Query length:** {meta.get('query_max_length')} tokens; **passage length:** {meta.get('passage_max_length')} tokens",
        ]
        if meta.get("model_type") == "MultiVectorEncoder":
            lines.append(
                "- **Use:** `sentence_transformers.MultiVectorEncoder(path)`: `similarity(encode_query(q), encode_document(p))` "
                "gives tasb's scores (the lengths are the Transformer module's `query_length` / `document_length`); "
                "in tasb, `tasb.models.colbert.ColBERT.load(path).score(queries, passages)`"
            )
        else:
            lines.append("- **Use:** `tasb.models.colbert.ColBERT.load(path).score(queries, passages)` (lengths in `tasb.json`)")
    elif architecture == "BERT_CAT":
        lines += [
            "- **Architecture:** BERT_CAT: `[CLS] query [SEP] passage [SEP]`, a linear head on CLS, raw (un-squashed) scores",
            f"- **Length:** {meta.get('max_length')} tokens for query and passage together; only the passage is truncated",
            "- **Use:** `sentence_transformers.CrossEncoder(path).predict([(query, passage)])` gives tasb's scores "
            "(the folder names an identity activation), as does `tasb.models.cross_encoder.BertCat.load(path).score`",
        ]
    return lines


def _spliced(card: str, section: str) -> str:
    """``card`` with tasb's part replaced, or put before "Training Details" (appended where there is none)."""
    start, end = card.find(BEGIN), card.find(END)
    if start != -1 and end > start:
        return card[:start] + section.rstrip("\n") + card[end + len(END):]
    anchor = card.find("\n## Training Details")
    if anchor == -1:
        return card.rstrip("\n") + "\n\n" + section
    return card[: anchor + 1] + section + "\n" + card[anchor + 1:]


def _teacher_info(base: str, data: dict, recipe: dict, loss: float | None) -> dict[str, Any]:
    return {
        "base_model": base,
        "data": {k: v for k, v in data.items() if v is not None},
        "recipe": {k: v for k, v in recipe.items() if v not in (None, "")},
        "metrics": {"training": {"final loss (mean of the last 10 steps)": loss}} if loss is not None else {},
    }


def _steps(configured: int, metrics: Mapping[str, Any]) -> str | int:
    taken = metrics.get("steps")
    if taken is None or taken == configured:
        return configured
    why = {"time": "the time budget", "early-stopping": "early stopping"}.get(metrics.get("stopped_by", ""), "")
    return f"{taken} of {configured}" + (f" (stopped by {why})" if why else "")


def _data_name(data: Any) -> str | None:
    if getattr(data, "data", None):
        return f"`{data.data}`"
    parts = [f"{name} `{getattr(data, name)}`" for name in ("corpus", "queries", "qrels") if getattr(data, name, None)]
    return ", ".join(parts) or None


def _judged(qrels: Mapping) -> int:
    return sum(1 for judged in qrels.values() if any(grade > 0 for grade in judged.values()))


def _base(name: str | None) -> str:
    if not name:
        return "not recorded"
    hub = hub_id(name)
    if hub is None:
        return f"`{name}` (a local folder)"
    shown = f"[{hub}](https://huggingface.co/{hub})"
    return shown if hub == name else f"{shown} (given as `{name}`)"


def _bullets(values: Mapping[str, Any]) -> list[str]:
    return [f"- **{name}:** {_value(value)}" for name, value in values.items() if value not in (None, "")]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:g}"
    return str(value)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _merged(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for key, value in new.items():
        out[key] = _merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
    return out


def _plain(value: Any) -> Any:
    """JSON-safe: tuples as lists, anything exotic as its string."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
