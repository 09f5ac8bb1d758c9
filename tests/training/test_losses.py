import pytest
import torch

from tasb.models.student import BertDot
from tasb.training.losses import MarginMSELoss, margin_mse


def test_margin_mse_matches_hand_computed_value():
    # student margins 2-1=1 and 0-3=-3; teacher margins 4-1=3 and 1-1=0; ((1-3)^2 + (-3-0)^2) / 2 = 6.5
    t = torch.tensor
    loss = margin_mse(t([2.0, 0.0]), t([1.0, 3.0]), t([4.0, 1.0]), t([1.0, 1.0]))
    assert loss.item() == pytest.approx(6.5)


def test_margin_mse_only_sees_margins():
    shifted = margin_mse(torch.tensor([102.0]), torch.tensor([101.0]), torch.tensor([4.0]), torch.tensor([1.0]))
    assert shifted.item() == pytest.approx(4.0)


def test_loss_scores_by_scaled_dot_product():
    loss_fn = MarginMSELoss(model=None, score_scale=2.0)
    queries = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    positives = torch.tensor([[1.0, 1.0], [3.0, 0.5]])
    negatives = torch.tensor([[0.0, 1.0], [1.0, 2.0]])
    # student scores x2: pos 2*3=6, 2*0.5=1; neg 2*2=4, 2*2=4 -> margins 2, -3; teacher 1, -1 -> ((1)^2 + (-2)^2)/2
    loss = loss_fn.compute_loss_from_embeddings(queries, positives, negatives, torch.tensor([1.0, -1.0]))
    assert loss.item() == pytest.approx(2.5)


@pytest.mark.slow
def test_loss_trains_the_student_from_tokenized_features(tiny_bert_dir):
    student = BertDot.load(str(tiny_bert_dir), query_max_length=8, passage_max_length=16)
    loss_fn = MarginMSELoss(student, score_scale=1.0)
    queries = student.tokenize(["what is a cat", "capital of france"], student.query_max_length)
    passages = student.tokenize(
        ["a cat is an animal", "paris is the capital", "dogs bark", "the moon is far"], student.passage_max_length
    )
    margins = torch.tensor([3.0, 2.0])
    loss = loss_fn(queries, passages, margins)

    q = student.embed(queries)
    p = student.embed(passages)
    expected = (((q * p[:2]).sum(-1) - (q * p[2:]).sum(-1) - margins) ** 2).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert any(param.grad is not None and param.grad.abs().sum() > 0 for param in student.encoder.parameters())


def test_mismatched_margins_are_refused():
    with pytest.raises(ValueError, match="one teacher margin per query"):
        embeddings = torch.ones(2, 3)
        MarginMSELoss(model=None).compute_loss_from_embeddings(embeddings, embeddings, embeddings, torch.ones(3))


def test_contrastive_is_cross_entropy_of_the_own_positive_over_the_batch():
    from tasb.training.losses import contrastive

    # b = 2: query 0 scores (2, 0, 1, 0), its own positive is column 0; query 1 scores (1, 3, 0, 1), column 1
    scores = torch.tensor([[2.0, 0.0, 1.0, 0.0], [1.0, 3.0, 0.0, 1.0]])
    judged = torch.tensor([True, True])
    expected = (
        -(2.0 - torch.logsumexp(torch.tensor([2.0, 0.0, 1.0, 0.0]), 0)) - (3.0 - torch.logsumexp(torch.tensor([1.0, 3.0, 0.0, 1.0]), 0))
    ) / 2
    assert contrastive(scores, judged).item() == pytest.approx(expected.item())


def test_contrastive_leaves_out_unjudged_rows_and_other_relevant_passages():
    from tasb.training.losses import contrastive

    scores = torch.tensor([[2.0, 0.0, 1.0, 0.0], [1.0, 3.0, 0.0, 1.0]])
    # query 0 also finds column 2 relevant: its softmax is over columns 0, 1, 3; query 1's positive is not judged
    also = torch.tensor([[False, False, True, False], [False, False, False, False]])
    loss = contrastive(scores, torch.tensor([True, False]), also)
    expected = -(2.0 - torch.logsumexp(torch.tensor([2.0, 0.0, 0.0]), 0))
    assert loss.item() == pytest.approx(expected.item())
    assert contrastive(scores, torch.tensor([False, False])).item() == 0.0
