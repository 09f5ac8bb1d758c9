"""Typed configuration: dataclasses loaded from YAML, overridden by ``--set key=value``.

``loader`` reads YAML with file:line errors, ``ranges`` declares what numeric fields admit, ``sections``
holds the configs.
"""

from tasb.config.loader import VERSION_KEY, apply_overrides, from_dict, load_config, save_config, to_dict
from tasb.config.ranges import AT_LEAST_0, AT_LEAST_1, FRACTION, PORT, POSITIVE, SEED, Checked, FieldError, Range, check_config
from tasb.config.sections import (
    ClusterConfig, ColbertConfig, CommandOptions, DataConfig, ExperimentConfig, FuseConfig, GridConfig, IndexConfig, InBatchLoss,
    LatencyConfig, PipelineConfig, PipelinesConfig, QuickstartConfig, SampleConfig, Sampler, ServeConfig, StudentConfig,
    TeacherConfig, TeacherMode, TopicSetConfig, TrainConfig, ValidationConfig, check_options,
)
