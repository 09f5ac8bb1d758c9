import math

import pytest
import torch
import torch.nn.functional as F

from tasb.models.student import BertDot
from tasb.training.inbatch import (
    INBATCH_LOSSES,
    INBATCH_MODULES,
    InBatchMarginMSELoss,
    inbatch_kldiv,
    inbatch_lambdaloss,
    inbatch_listnet,
    inbatch_margin_mse,
    student_scores,
)

# b = 2 queries; columns: positive 0, positive 1, negative 0, negative 1
STUDENT = [[3.0, 1.0, 0.5, 2.0], [0.0, 2.5, 1.5, -1.0]]
TEACHER = [[10.0, 6.0, 7.0, 8.0], [5.0, 9.0, 4.0, 6.0]]


def softmax(row, temperature=1.0):
    exps = [math.exp(x / temperature) for x in row]
    return [e / sum(exps) for e in exps]


def test_margin_mse_matches_hand_computed_value():
    # own positive (margin 0) and own negative (taught by the pairwise loss) are left out:
    # q0: col 1 (3-1) - (10-6) = -2, col 3 (3-2) - (10-8) = -1
    # q1: col 0 (2.5-0) - (9-5) = -1.5, col 2 (2.5-1.5) - (9-4) = -4
    expected = (4 + 1 + 2.25 + 16) / 4
    loss = inbatch_margin_mse(torch.tensor(STUDENT), torch.tensor(TEACHER))
    assert loss.item() == pytest.approx(expected)


def test_margin_mse_matches_a_loop_over_the_in_batch_pairs():
    b = 2
    errors = [
        ((STUDENT[i][i] - STUDENT[i][j]) - (TEACHER[i][i] - TEACHER[i][j])) ** 2
        for i in range(b)
        for j in range(2 * b)
        if j not in (i, b + i)
    ]
    loss = inbatch_margin_mse(torch.tensor(STUDENT), torch.tensor(TEACHER))
    assert loss.item() == pytest.approx(sum(errors) / len(errors))


def test_margin_mse_sees_only_margins():
    teacher = torch.tensor(TEACHER)
    shifted = teacher + torch.tensor([[-7.0], [42.0]])
    assert inbatch_margin_mse(shifted, teacher).item() == pytest.approx(0.0, abs=1e-6)
    nudged = shifted.clone()
    nudged[0, 3] += 0.5
    assert inbatch_margin_mse(nudged, teacher).item() == pytest.approx(0.25 / 4)


def test_margin_mse_ignores_each_querys_own_negative():
    student, teacher = torch.tensor(STUDENT), torch.tensor(TEACHER)
    moved = student.clone()
    moved[0, 2] += 5.0
    moved[1, 3] -= 5.0
    assert inbatch_margin_mse(moved, teacher).item() == pytest.approx(inbatch_margin_mse(student, teacher).item())


def test_margin_mse_counts_the_own_negative_when_asked():
    teacher = torch.tensor(TEACHER)
    nudged = teacher.clone()
    nudged[0, 2] += 1.0  # query 0's own negative (b = 2)
    assert inbatch_margin_mse(nudged, teacher).item() == 0.0
    # 1 error of 1.0 among b(2b-1) = 6 pairs
    assert inbatch_margin_mse(nudged, teacher, include_own_negative=True).item() == pytest.approx(1.0 / 6)


def test_margin_mse_of_a_single_query_is_zero_not_nan():
    student = torch.tensor([[1.0, 4.0]], requires_grad=True)
    loss = inbatch_margin_mse(student, torch.tensor([[3.0, 0.0]]))
    assert loss.item() == 0.0
    loss.backward()


def test_margin_mse_refuses_matrices_off_the_convention():
    with pytest.raises(ValueError, match=r"\[b, 2b\]"):
        inbatch_margin_mse(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="one shape"):
        inbatch_margin_mse(torch.zeros(2, 4), torch.zeros(4, 2))


def test_kldiv_matches_hand_computed_value():
    temperature = 2.0
    kl = 0.0
    for s_row, t_row in zip(STUDENT, TEACHER):
        p_s, p_t = softmax(s_row, temperature), softmax(t_row, temperature)
        kl += sum(pt * math.log(pt / ps) for ps, pt in zip(p_s, p_t))
    loss = inbatch_kldiv(torch.tensor(STUDENT), torch.tensor(TEACHER), temperature=temperature)
    assert loss.item() == pytest.approx(kl / 2, rel=1e-6)


def test_kldiv_is_zero_at_equality_unlike_the_probabilities_as_input_bug():
    scores = torch.tensor(STUDENT)
    assert inbatch_kldiv(scores, scores).item() == pytest.approx(0.0, abs=1e-7)

    # matchmaker's KLDivTeacherList fed probabilities where kl_div wants log-probabilities: sum p * (log p - p)
    buggy = F.kl_div(scores.softmax(-1), scores.softmax(-1), reduction="batchmean")
    by_hand = sum(sum(p * (math.log(p) - p) for p in softmax(row)) for row in STUDENT) / 2
    assert buggy.item() == pytest.approx(by_hand, rel=1e-6)
    assert buggy.item() < -0.5


def test_listnet_matches_hand_computed_value():
    temperature = 0.5
    cross_entropy = 0.0
    for s_row, t_row in zip(STUDENT, TEACHER):
        p_s, p_t = softmax(s_row, temperature), softmax(t_row, temperature)
        cross_entropy -= sum(pt * math.log(ps) for ps, pt in zip(p_s, p_t))
    loss = inbatch_listnet(torch.tensor(STUDENT), torch.tensor(TEACHER), temperature=temperature)
    assert loss.item() == pytest.approx(cross_entropy / 2, rel=1e-6)


def test_listnet_at_equality_is_the_teachers_entropy():
    entropy = -sum(sum(p * math.log(p) for p in softmax(row)) for row in TEACHER) / 2
    teacher = torch.tensor(TEACHER)
    assert inbatch_listnet(teacher, teacher).item() == pytest.approx(entropy, rel=1e-6)
    assert inbatch_listnet(torch.tensor(STUDENT), teacher).item() > entropy


def lambdaloss_by_hand(k=None):
    """NDCG-Loss2 for student [2, 1, 0] (its ranks: item 0, 1, 2) and teacher [1, 3, 2] (grades 0, 1, 0.5)."""
    discount = lambda rank: math.log2(1 + rank)  # noqa: E731
    ideal_dcg = (2**1 - 1) / discount(1) + (2**0.5 - 1) / discount(2)  # the third gain is 2**0 - 1 = 0
    gain = [0.0, 1 / ideal_dcg, (2**0.5 - 1) / ideal_dcg]
    delta = lambda distance: abs(1 / discount(distance) - 1 / discount(distance + 1))  # noqa: E731
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    # (better rank, worse rank) by the student, for every pair the teacher orders: grade 1 > 0, 1 > 0.5, 0.5 > 0
    pairs = [(2, 1, 1.0 - 2.0), (2, 3, 1.0 - 0.0), (3, 1, 0.0 - 2.0)]
    loss = 0.0
    for r, q, score_diff in pairs:
        if k is None or max(r, q) <= k:
            weight = delta(abs(r - q)) * abs(gain[r - 1] - gain[q - 1])
            loss -= weight * math.log2(sigmoid(score_diff))
    return loss


def test_lambdaloss_matches_hand_computed_value():
    student, teacher = torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([[1.0, 3.0, 2.0]])
    assert inbatch_lambdaloss(student, teacher).item() == pytest.approx(lambdaloss_by_hand(), rel=1e-5)
    assert inbatch_lambdaloss(student, teacher, k=2).item() == pytest.approx(lambdaloss_by_hand(k=2), rel=1e-5)


def test_lambdaloss_grades_are_scale_free_and_constant_rows_add_nothing():
    student = torch.tensor([[2.0, 1.0, 0.0], [5.0, 1.0, 3.0]])
    teacher = torch.tensor([[-10.0, 90.0, 40.0], [7.0, 7.0, 7.0]])
    assert inbatch_lambdaloss(student, teacher).item() == pytest.approx(lambdaloss_by_hand() / 2, rel=1e-5)


def test_lambdaloss_rewards_the_teachers_order():
    teacher = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    aligned = inbatch_lambdaloss(torch.tensor([[8.0, 6.0, 4.0, 2.0]]), teacher)
    reversed_ = inbatch_lambdaloss(torch.tensor([[2.0, 4.0, 6.0, 8.0]]), teacher)
    assert aligned.item() < reversed_.item()
    assert inbatch_lambdaloss(teacher * 100, teacher).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", sorted(INBATCH_LOSSES))
def test_gradients_reach_the_student_never_the_teacher(name):
    torch.manual_seed(0)
    student = torch.randn(2, 4, requires_grad=True)
    teacher_weights = torch.randn(2, 4, requires_grad=True)
    with torch.no_grad():
        teacher = teacher_weights * 3
    assert not teacher.requires_grad

    careless_teacher = (teacher_weights * 3).detach().requires_grad_()
    for target in (teacher, careless_teacher):
        student.grad = None
        INBATCH_LOSSES[name](student, target).backward()
        assert student.grad is not None and student.grad.abs().sum() > 0
    assert careless_teacher.grad is None
    assert teacher_weights.grad is None


@pytest.mark.parametrize("name", sorted(INBATCH_LOSSES))
def test_losses_compute_in_fp32_from_bf16_scores(name):
    student, teacher = torch.tensor(STUDENT, dtype=torch.bfloat16), torch.tensor(TEACHER, dtype=torch.bfloat16)
    loss = INBATCH_LOSSES[name](student, teacher)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(INBATCH_LOSSES[name](student.float(), teacher.float()).item())


def test_student_scores_are_scaled_dot_products():
    queries = torch.tensor([[1.0, 2.0]])
    passages = torch.tensor([[3.0, 0.5], [-1.0, 1.0]])
    # 2 * (1*3 + 2*0.5) = 8, 2 * (-1 + 2) = 2
    assert student_scores(queries, passages, 2.0).tolist() == [[8.0, 2.0]]


def test_module_refuses_mismatched_shapes():
    loss_fn = InBatchMarginMSELoss(model=None)
    queries = torch.ones(2, 3)
    with pytest.raises(ValueError, match=r"passages \[2b, d\].*passages \(3, 3\)"):
        loss_fn.compute_loss_from_embeddings(queries, torch.ones(3, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"passages \(4, 5\)"):
        loss_fn.compute_loss_from_embeddings(queries, torch.ones(4, 5), torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"teacher scores of shape \(2, 4\).*got \(2, 2\)"):
        loss_fn.compute_loss_from_embeddings(queries, torch.ones(4, 3), torch.ones(2, 2))


@pytest.fixture(scope="module")
def tiny_batch(tiny_bert_dir):
    student = BertDot.load(str(tiny_bert_dir), query_max_length=8, passage_max_length=16)
    # dropout would make the module's embeddings differ from the ones the test computes itself
    student.encoder.eval()
    queries = student.tokenize(["what is a cat", "capital of france"], student.query_max_length)
    passages = student.tokenize(
        ["a cat is an animal", "paris is the capital", "dogs bark", "the moon is far"], student.passage_max_length
    )
    with torch.no_grad():
        scores = student.embed(queries) @ student.embed(passages).T
    return student, queries, passages, scores


@pytest.mark.parametrize("name", sorted(INBATCH_MODULES))
def test_module_forward_equals_the_function_on_the_score_matrix(name, tiny_batch):
    student, queries, passages, scores = tiny_batch
    teacher = torch.tensor(TEACHER)
    with torch.no_grad():
        loss = INBATCH_MODULES[name](student, score_scale=3.0)(queries, passages, teacher)
    assert loss.item() == pytest.approx(INBATCH_LOSSES[name](scores * 3.0, teacher).item(), rel=1e-5)


@pytest.mark.slow
def test_module_trains_the_student_encoder(tiny_batch):
    student, queries, passages, _ = tiny_batch
    InBatchMarginMSELoss(student)(queries, passages, torch.tensor(TEACHER)).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.encoder.parameters())
    student.encoder.zero_grad()
