"""Research validation of weight interpolations (1 - a) x A + a x B of two students (WiSE-FT).

Usage: python scripts/slice/interpolate.py QS_RUN MODEL_A MODEL_B a ...   (last line: one JSON object)
"""

import dataclasses
import json
import sys

from common import slice_run

from tasb.training.setup import load_student
from tasb.training.validation import validation_score


def main():
    qs, first, second, *alphas = sys.argv[1:]
    config, _, research = slice_run(qs)

    def load(path):
        return load_student(dataclasses.replace(config.student, model=path))

    a, b = load(first).encoder.state_dict(), load(second).encoder.state_dict()
    found = {}
    for alpha in map(float, alphas):
        model = load(first)
        model.encoder.load_state_dict({k: (1 - alpha) * a[k] + alpha * b[k] if a[k].is_floating_point() else a[k] for k in a})
        found[alpha] = validation_score(model, research, "nDCG@10", 1)
    print(json.dumps(found))


if __name__ == "__main__":
    main()
