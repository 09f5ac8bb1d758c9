"""prereg50: scripts/student_stage.py with the student's passage tower frozen at its start.

Every model BertDot.load makes keeps a frozen copy of its starting encoder; text tokenized at any length other than
the query length (passages, in training and in validation) is encoded by that copy without gradients, so only the
query side trains. Research only: the stage's saved models hold the query tower alone (run it with --no-test).

Usage: as scripts/student_stage.py.
"""

import copy
import runpy
import sys
from pathlib import Path

import torch

from tasb.models.student import BertDot


class Features(dict):
    """Tokenized text that remembers whether it is passages: the trainer hands embed features, not texts."""

    passage = False


_tokenize, _embed, _load = BertDot.tokenize, BertDot.embed, BertDot.load.__func__
# printed at the end: a run whose passages never reached the frozen tower trained both sides
frozen_passage_batches = [0]


def tokenize(self, texts, max_length):
    features = Features(_tokenize(self, texts, max_length))
    features.passage = max_length != self.query_max_length
    return features


def embed(self, features):
    if getattr(features, "passage", False):
        frozen_passage_batches[0] += 1
        with torch.no_grad():
            return self.frozen_passages(dict(features))["sentence_embedding"]
    return _embed(self, features)


def load(cls, *args, **kwargs):
    model = _load(cls, *args, **kwargs)
    model.frozen_passages = copy.deepcopy(model.encoder).eval().requires_grad_(False)
    return model


BertDot.tokenize, BertDot.embed, BertDot.load = tokenize, embed, classmethod(load)

if __name__ == "__main__":
    script = Path(__file__).with_name("student_stage.py")
    sys.argv = [str(script), *sys.argv[1:]]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        print(f"passage batches through the frozen tower: {frozen_passage_batches[0]}", file=sys.stderr)
