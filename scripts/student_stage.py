"""The quickstart's student stage again over a finished quickstart's teachers, with another score file
(docs/student.md, "More of the teacher per query, and pseudo-queries").

The run's ColBERT, baseline, initial index and held-out queries are reused; the pairs are the judged training
queries' positives x PER_QUERY negatives of the initial student's top-30, plus, with --pseudo N, N pseudo-queries
(one 6-40-word sentence of each of N random passages, or with --pseudo-source title their BEIR titles) whose top-30
(without their source passage unless --keep-source) the quickstart's ensemble ranks, taught as its best candidate
against 4 random others. The student (from the baseline unless --start initial) trains as the quickstart's does and
is tested; the last line is one JSON object. --negatives baseline mines the negatives with the baseline instead of
the initial model, as today's quickstart does.

--set KEY=VALUE changes the run's quickstart config (score_scale=null, learning_rate=2e-5, train_steps=100, ...);
--start initial trains the initial model instead of the baseline. --research-data DIR --research-queries N
validates on N judged training queries of DIR outside the run's own training split (a slice's other queries):
research validation, to choose small-data recipes on more queries than a slice can spare; the step kept is then
chosen by them (step 0 of --start initial is the zero-shot model's score).

Usage: python scripts/student_stage.py QUICKSTART_RUN OUT PER_QUERY [--pseudo N] [--pseudo-source sentence|title]
       [--keep-source] [--set K=V ...]
       [--start initial|baseline] [--negatives initial|baseline] [--research-data DIR --research-queries N]
"""

import argparse
import dataclasses
import json
import random
import re
from pathlib import Path

from quickstart_members import run_members

from tasb.apps.quickstart import (
    QuickstartConfig,
    evaluate_trained,
    held_out_validation,
    load_splits,
    steps_note,
    student_train_config,
    validation_settings,
)
from tasb.config import load_config
from tasb.data import ScoredPair, load_dataset, read_run, sharing_positives, training_pairs, write_scores
from tasb.data.readers import iter_lines
from tasb.evaluation import evaluate_per_query
from tasb.evaluation.significance import paired_ttest
from tasb.outputs import check_folder
from tasb.retrieval.index import DenseIndex, search
from tasb.retrieval.scorers import EnsembleScorer, score_pairs
from tasb.training.setup import load_student
from tasb.training.trainer import train
from tasb.training.validation import build_validation_set

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def pseudo_queries(corpus, count, seed, titles=None):
    """``count`` random passages' pseudo-queries: a sentence of each, or its title when ``titles`` are given."""
    rng = random.Random(seed)
    found = {}
    for pid in rng.sample(sorted(corpus), len(corpus)):
        if len(found) == count:
            break
        if titles is not None:
            candidates = [titles[pid]] if len(titles.get(pid, "").split()) >= 3 else []
        else:
            candidates = [s for s in SENTENCE_END.split(corpus[pid]) if 6 <= len(s.split()) <= 40]
        if candidates:
            found[f"pseudo:{pid}"] = (pid, rng.choice(candidates))
    return found


def beir_titles(data):
    """pid -> title of a BEIR folder's corpus.jsonl, read as the loader reads it (which joins title and body)."""
    records = (json.loads(line) for _, line in iter_lines(Path(data) / "corpus.jsonl"))
    return {str(record["_id"]): (record.get("title") or "").strip() for record in records}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("per_query", type=int)
    parser.add_argument("--pseudo", type=int, default=0)
    parser.add_argument("--pseudo-source", choices=["sentence", "title"], default="sentence")
    parser.add_argument("--keep-source", action="store_true")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--start", choices=["initial", "baseline"], default="baseline")
    parser.add_argument("--negatives", choices=["initial", "baseline"], default="initial", help="the model whose top-30 the negatives come from")
    parser.add_argument("--research-data", type=Path)
    parser.add_argument("--research-queries", type=int, default=150)
    parser.add_argument("--no-test", action="store_true", help="choose recipes first: leave the test queries unread")
    args = parser.parse_args()
    qs = args.run
    config = dataclasses.replace(load_config(QuickstartConfig, qs / "config.yaml", args.overrides), output_dir=str(args.out))
    # the project's output policy: a new or empty folder only, nothing a user had is written over
    check_folder(args.out, None).mkdir(parents=True, exist_ok=True)
    train_set, test_set = load_splits(config)
    validation = held_out_validation(config, train_set)
    assert set(validation.queries) == set((qs / "validation_qids.txt").read_text().split())
    qrels = {q: j for q, j in train_set.qrels.items() if q not in validation.queries}
    members = run_members(qs, config, train_set.corpus)
    miner = members["bi-encoder" if args.negatives == "initial" else "baseline"].model
    negatives = search(DenseIndex.load(qs / f"index-{args.negatives}"), miner, train_set.judged_queries(), k=config.negatives_depth)
    pairs = training_pairs(qrels, negatives, depth=config.negatives_depth, per_query=args.per_query, seed=config.seed)
    # the run's teacher as it fitted its weights, unless --set gives them (or the run predates the fit)
    fitted = json.loads((qs / "metrics.json").read_text()).get("teacher_weights") if (qs / "metrics.json").exists() else None
    given = any(override.startswith("teacher_ensemble") for override in args.overrides)
    weights = config.teacher_ensemble if given or not fitted else fitted
    weights = {name: w for name, w in weights.items() if w > 0 and name in members}
    scorer = EnsembleScorer([members[name] for name in weights], list(weights.values()))
    scored = score_pairs(scorer, pairs, train_set.queries, train_set.corpus)
    titles = beir_titles(config.data) if args.pseudo_source == "title" else None
    pseudo = pseudo_queries(train_set.corpus, args.pseudo, config.seed, titles)
    if pseudo:
        texts = {qid: text for qid, (_, text) in pseudo.items()}
        candidates = search(DenseIndex.load(qs / "index-initial"), members["bi-encoder"].model, texts, k=config.negatives_depth)
        wanted = {q: [p for p in candidates[q] if args.keep_source or p != pseudo[q][0]] for q in texts}
        rng = random.Random(config.seed)
        for qid, by_pid in scorer.score(wanted, texts, train_set.corpus).items():
            best, *others = sorted(by_pid, key=by_pid.get, reverse=True)
            scored += [ScoredPair(by_pid[best], by_pid[o], qid, best, o) for o in rng.sample(others, min(4, len(others)))]
        train_set = dataclasses.replace(train_set, queries={**train_set.queries, **texts})
    write_scores(scored, args.out / "teacher_scores.tsv")
    train_config = student_train_config(config, args.out)
    if train_config.colbert_teacher:
        # the in-batch teacher is the run's ColBERT: this stage trains none of its own
        train_config = dataclasses.replace(train_config, colbert_teacher=str((qs / "colbert" / "model").resolve()))
    if args.start == "baseline":
        baseline_model = str((qs / "baseline" / "model").resolve())
        train_config = dataclasses.replace(train_config, student=dataclasses.replace(config.student, model=baseline_model))
    if args.research_data:
        validation = research_validation(config, args.research_data, args.research_queries, train_set.qrels)
    folder = train(train_config, train_set, scored, student=load_student(train_config.student, config.device), validation=validation)
    curve = [json.loads(line) for line in (folder / "validation.jsonl").read_text().splitlines()]
    found = {"pairs": len(scored), "pseudo": len(pseudo), "note": steps_note(folder), "validation": curve}
    if not args.no_test:
        found |= test(folder, test_set, qs, args.out, config)
    print(json.dumps(found))


def test(folder, test_set, qs, out, config):
    _, _, metrics = evaluate_trained(folder, "student", test_set, out, config)
    student = evaluate_per_query(read_run(out / "student.test.trec"), test_set.qrels)["nDCG@10"]
    zero_shot = evaluate_per_query(read_run(qs / "initial.test.trec"), test_set.qrels)["nDCG@10"]
    return {"test": metrics, "p_vs_zero_shot": paired_ttest(student, zero_shot)}


def research_validation(config, data, size, slice_qrels):
    """``size`` judged training queries of ``data`` that the slice does not hold, BM25 top-k ∪ judged as the trainer's.

    Queries judging a passage that a slice query judges relevant are left out: a model fitted to the slice
    finds those passages from memory (SciFact: 18 of 150 such queries, the slice's baseline .98 on them against
    the untrained model's .50), which is not what a collection the user has not labelled gets from it.
    """
    settings = validation_settings(config)
    full = load_dataset(str(data), config.train_split)
    others = {qid: judged for qid, judged in full.qrels.items() if qid not in slice_qrels}
    remembered = sharing_positives(others, slice_qrels, settings.rel)
    judged = [qid for qid in full.judged_queries() if qid in others and qid not in remembered]
    return build_validation_set(dataclasses.replace(settings, queries=size), full, judged)


if __name__ == "__main__":
    main()
