"""Typed configuration: dataclasses loaded from YAML, overridden by ``--set key=value``.

``loader`` reads YAML with file:line errors, ``ranges`` declares what numeric fields admit and checks a
config's rules; ``sections`` holds the sections commands share, ``recipes`` the training recipes and
``retrieval`` the index, pipeline and search-service settings. A command's own config lives with the
command (``tasb.apps``); these are the ones library code is handed.
"""

from tasb.config.loader import VERSION_KEY, apply_overrides, from_dict, load_config, save_config, to_dict
from tasb.config.ranges import AT_LEAST_0, AT_LEAST_1, FRACTION, PORT, POSITIVE, SEED, Checked, FieldError, Range, check_config
from tasb.config.recipes import ColbertConfig, TeacherConfig, TeacherRecipe, TrainConfig
from tasb.config.retrieval import IndexConfig, PipelineConfig, ServeConfig
from tasb.config.sections import (
    DEFAULT_MEASURES, Budget, DataConfig, InBatchLossName, InBatchTeacherSpec, Optimisation, PairSampling, Placement, Sampler, Scoring, StudentConfig, Teaching,
    TeacherMode, ValidationConfig, values_of,
)

__all__ = [
    "AT_LEAST_0", "AT_LEAST_1", "DEFAULT_MEASURES", "FRACTION", "PORT", "POSITIVE", "SEED", "VERSION_KEY",
    "Budget", "Checked", "ColbertConfig", "DataConfig", "FieldError", "InBatchLossName", "InBatchTeacherSpec", "IndexConfig",
    "Optimisation", "PairSampling", "PipelineConfig", "Placement", "Range", "Sampler", "Scoring", "ServeConfig", "StudentConfig", "TeacherConfig",
    "TeacherMode", "TeacherRecipe", "Teaching", "TrainConfig", "ValidationConfig",
    "apply_overrides", "check_config", "from_dict", "load_config", "save_config", "to_dict", "values_of",
]
