"""In-batch distillation losses (paper Sec. 2.3 and Table 3): every query against all ``2b`` passages of its batch,
taught by a teacher that scores the same ``[b, 2b]`` matrix (ColBERT in TAS-Balanced)."""

from __future__ import annotations

from typing import Callable

from torch import Tensor

from tasb.training.inbatch.base import InBatchLoss, student_scores
from tasb.training.inbatch.kldiv import InBatchKLDivLoss, inbatch_kldiv
from tasb.training.inbatch.lambdaloss import InBatchLambdaLoss, inbatch_lambdaloss
from tasb.training.inbatch.listnet import InBatchListNetLoss, inbatch_listnet
from tasb.training.inbatch.margin_mse import InBatchMarginMSELoss, inbatch_margin_mse

INBATCH_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "margin-mse": inbatch_margin_mse,
    "kldiv": inbatch_kldiv,
    "listnet": inbatch_listnet,
    "lambdaloss": inbatch_lambdaloss,
}

INBATCH_MODULES: dict[str, type[InBatchLoss]] = {
    "margin-mse": InBatchMarginMSELoss,
    "kldiv": InBatchKLDivLoss,
    "listnet": InBatchListNetLoss,
    "lambdaloss": InBatchLambdaLoss,
}

__all__ = [
    "INBATCH_LOSSES",
    "INBATCH_MODULES",
    "InBatchKLDivLoss",
    "InBatchLambdaLoss",
    "InBatchListNetLoss",
    "InBatchLoss",
    "InBatchMarginMSELoss",
    "inbatch_kldiv",
    "inbatch_lambdaloss",
    "inbatch_listnet",
    "inbatch_margin_mse",
    "student_scores",
]
