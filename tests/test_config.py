import pytest

from tasb.apps.quickstart import QuickstartConfig
from tasb.config import TrainConfig, load_config, save_config
from tasb.errors import InputError


def test_yaml_then_overrides_with_nested_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 10\nlearning_rate: 7e-6\nstudent:\n  pooling: cls\n")
    config = load_config(TrainConfig, path, ["steps=20", "student.query_max_length=16", "max_minutes=1.5"])
    assert (config.steps, config.learning_rate, config.max_minutes) == (20, 7e-6, 1.5)
    assert (config.student.pooling, config.student.query_max_length, config.student.passage_max_length) == ("cls", 16, 200)


def test_a_saved_config_loads_back_equal(tmp_path):
    config = load_config(QuickstartConfig, None, ["cross_encoder.steps=3", "teacher_ensemble.bm25=0.5"])
    save_config(config, tmp_path / "config.yaml")
    assert "tasb_version" in (tmp_path / "config.yaml").read_text()
    assert load_config(QuickstartConfig, tmp_path / "config.yaml") == config


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["stepz=5"], "keys of TrainConfig"),
        (["student.poolin=cls"], "keys of StudentConfig"),
        (["steps=many"], "steps to be an integer"),
        (["student.pooling=max"], "student.pooling to be one of cls, mean"),
        (["bf16=maybe"], "bf16 to be true or false"),
        (["steps"], "key=value"),
    ],
)
def test_unknown_or_mistyped_keys_are_refused(overrides, message):
    with pytest.raises(InputError, match=message):
        load_config(TrainConfig, None, overrides)


def test_yaml_syntax_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("steps: 10\nstudent: [unclosed\n")
    with pytest.raises(InputError) as err:
        load_config(TrainConfig, path)
    assert err.value.path == str(path) and err.value.line is not None


def test_training_passages_longer_than_the_models_own_are_refused_at_their_line(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("student:\n  passage_max_length: 200\n  training_passage_max_length: 256\n")
    with pytest.raises(InputError, match="training_passage_max_length to be at most passage_max_length \\(200\\)") as err:
        load_config(TrainConfig, path)
    assert (err.value.path, err.value.line) == (str(path), 3)
    shorter = load_config(TrainConfig, None, ["student.training_passage_max_length=128"]).student
    assert (shorter.training_passage_max_length, shorter.passage_max_length) == (128, 200)


def test_a_mapping_field_is_updated_key_by_key():
    weights = load_config(QuickstartConfig, None, ["teacher_ensemble.cross-encoder=0.5"]).teacher_ensemble
    assert weights == {"colbert": 0.25, "bm25": 0.5, "baseline": 1.0, "bi-encoder": 0.0, "cross-encoder": 0.5}


def test_a_section_given_in_part_keeps_its_own_defaults():
    # the quickstart's teacher has its own budget; changing its seed must not reset it to TeacherConfig's
    default = load_config(QuickstartConfig).colbert
    changed = load_config(QuickstartConfig, None, ["colbert.seed=1"]).colbert
    assert (changed.seed, changed.steps, changed.max_minutes) == (1, default.steps, default.max_minutes)


def test_a_key_given_twice_is_reported_at_the_line_whose_value_counts(tmp_path):
    from tasb.config import TrainConfig, load_config
    from tasb.errors import InputError

    config = tmp_path / "twice.yaml"
    config.write_text("steps: 3\nseed: 1\nsteps: ten\n")
    with pytest.raises(InputError) as refused:
        load_config(TrainConfig, config)
    assert f"{config}:3" in str(refused.value) and "steps" in str(refused.value)


def test_validation_depth_keeps_loading_under_its_new_name_rerank_depth(tmp_path, caplog):
    from tasb.apps.quickstart import QuickstartConfig
    from tasb.config import TrainConfig, load_config

    old = tmp_path / "old.yaml"
    old.write_text("validation:\n  depth: 7\n")
    with caplog.at_level("WARNING"):
        assert load_config(TrainConfig, old, []).validation.rerank_depth == 7
    assert "validation.depth is now validation.rerank_depth" in caplog.text
    quickstart = load_config(QuickstartConfig, None, ["teacher_eval_depth=30", "validation_depth=10"])
    assert (quickstart.teacher_rerank_depth, quickstart.validation_rerank_depth) == (30, 10)


@pytest.mark.parametrize(
    "settings, start, shares",
    [
        ({}, "baseline", "the student's start, same budget"),  # the default: the student re-mines its negatives from the baseline
        ({"negatives_from": "initial-student"}, "baseline", "the student's start, same triples, same budget"),
        ({"negatives_from": "initial-student"}, "initial", "same triples, same budget"),
        # the baseline lost the start on validation: the student trains on the initial student's near misses, as it did
        ({}, "initial", "same triples, same budget"),
        ({"student_start": "initial"}, "initial", "same budget"),  # set by the user: the baseline's negatives still
    ],
)
def test_the_quickstart_names_its_baseline_row_for_what_it_shares_with_the_student(settings, start, shares):
    from tasb.apps.quickstart import baseline_shares

    assert baseline_shares(QuickstartConfig(**settings), start) == shares
