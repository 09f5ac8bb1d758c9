"""What the slice research scripts share: a finished slice quickstart's config and data, and its research queries.

Research validation (docs/student.md, "Research validation"): SIZE judged training queries of the full collection
that the slice does not hold, drawn and given candidates as the trainer's validation is (BM25 top-20 and the judged).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from student_stage import research_validation  # noqa: E402

from tasb.apps.quickstart import QuickstartConfig, load_splits  # noqa: E402
from tasb.config import load_config  # noqa: E402

FULL_DATA = "../shared/data/scifact"
RESEARCH_QUERIES = 150


def slice_run(run: str | Path, overrides: list[str] | None = None, research_queries: int = RESEARCH_QUERIES):
    """The run's quickstart config (with ``overrides``), its train split and its research validation set."""
    config = load_config(QuickstartConfig, Path(run) / "config.yaml", overrides)
    train_set, _ = load_splits(config)
    return config, train_set, research_validation(config, FULL_DATA, research_queries, train_set.qrels)
