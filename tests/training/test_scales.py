"""Fitted scales: the student's and ColBERT's margins brought to the teacher's magnitude, and kept across a resume."""

import json

import numpy as np
import pytest
import torch

from tasb.data.records import ScoredPair
from tasb.errors import InputError
from tasb.models.student import BertDot
from tasb.training.scales import fit_colbert_scale, fit_score_scale
from tasb.training.trainer import train
from test_trainer import _config, _synthetic


def _student(tiny_bert_dir) -> BertDot:
    return BertDot.load(str(tiny_bert_dir), pooling="mean", query_max_length=12, passage_max_length=16)


def _student_margins(student, dataset, pairs) -> np.ndarray:
    queries = student.encode_queries([dataset.queries[p.qid] for p in pairs])
    positives = student.encode_passages([dataset.corpus[p.pid_pos] for p in pairs])
    negatives = student.encode_passages([dataset.corpus[p.pid_neg] for p in pairs])
    return (queries * (positives - negatives)).sum(axis=1)


def test_score_scale_is_the_teachers_margins_root_mean_square_over_the_students(tiny_bert_dir):
    dataset, pairs = _synthetic()
    student = _student(tiny_bert_dir)
    margins = _student_margins(student, dataset, pairs)
    # a teacher whose margins are the student's times 3.5 (sign and all): the fit finds 3.5
    taught = [ScoredPair(float(3.5 * m), 0.0, p.qid, p.pid_pos, p.pid_neg) for p, m in zip(pairs, margins)]
    assert fit_score_scale(student, dataset, taught, seed=0, bf16=False) == pytest.approx(3.5, rel=1e-4)
    # by hand: RMS of the teacher's margins over RMS of the student's, on the same pairs
    expected = np.sqrt(np.mean([p.margin**2 for p in pairs]) / np.mean(margins**2))
    assert fit_score_scale(student, dataset, pairs, seed=0, bf16=False) == pytest.approx(expected, rel=1e-4)


class _HalvedStudentTeacher:
    """An in-batch teacher whose raw scores are the student's dot products halved, times its own scale."""

    def __init__(self, student, dataset, scale):
        self.student, self.dataset, self.scale = student, dataset, scale

    def scores(self, query_texts, pids):
        queries = self.student.encode_queries(list(query_texts))
        passages = self.student.encode_passages([self.dataset.corpus[pid] for pid in pids])
        return torch.from_numpy(queries @ passages.T / 2 * self.scale)


def test_colbert_scale_brings_colberts_inbatch_margins_to_the_scaled_students(tiny_bert_dir):
    dataset, pairs = _synthetic()
    student = _student(tiny_bert_dir)
    # whatever scale the teacher was built with, its raw scores are what gets fitted
    teacher = _HalvedStudentTeacher(student, dataset, scale=7.0)
    fitted = fit_colbert_scale(teacher, student, 10.0, dataset, pairs, batch_size=4, seed=0, bf16=False)
    assert fitted == pytest.approx(20.0, rel=1e-4)


def test_all_zero_margins_cannot_be_fitted_and_name_the_key(tiny_bert_dir):
    dataset, pairs = _synthetic()
    flat = [ScoredPair(1.0, 1.0, p.qid, p.pid_pos, p.pid_neg) for p in pairs]
    with pytest.raises(InputError, match="score_scale"):
        fit_score_scale(_student(tiny_bert_dir), dataset, flat, seed=0, bf16=False)


@pytest.mark.slow
def test_a_null_score_scale_is_fitted_once_recorded_and_kept_by_a_resume(tmp_path, tiny_bert_dir):
    dataset, pairs = _synthetic()
    whole = train(_config(tmp_path, tiny_bert_dir, "whole", steps=6, score_scale=None), dataset, pairs)
    fitted = json.loads((whole / "metrics.json").read_text())["score_scale"]
    assert fitted == pytest.approx(fit_score_scale(BertDot.load(str(tiny_bert_dir), query_max_length=12, passage_max_length=16),
                                                   dataset, pairs, seed=1, bf16=False), rel=1e-6)
    assert "score_scale: null" in (whole / "config.yaml").read_text()
    # the resumed half starts from a trained student, yet trains with the scale fitted on the starting one
    train(_config(tmp_path, tiny_bert_dir, "split", steps=3, score_scale=None), dataset, pairs)
    split = train(_config(tmp_path, tiny_bert_dir, "split", steps=6, score_scale=None), dataset, pairs, resume=True)
    assert json.loads((split / "metrics.json").read_text())["score_scale"] == fitted
    for name, tensor in BertDot.load(str(whole / "model")).encoder.state_dict().items():
        assert torch.equal(tensor, BertDot.load(str(split / "model")).encoder.state_dict()[name]), name
