"""A small collection with graded judgments, in BEIR layout, from the TREC-DL material in ../shared/data.

Issue 16 checks the quickstart on a held-out collection with ~100 training queries and graded judgments. This
builds a second one beside the SciFact slice, from a different domain: the 37K-passage TREC-DL pool corpus
(MS MARCO web passages), training on TREC-DL 2019's 43 queries (graded 0-3, ~215 judgments each) and the 48
MS MARCO dev queries whose relevant passage is in the pool (binary), testing on TREC-DL 2020's 54 judged queries
(graded 0-3). Judgments naming a passage the pool lacks (186 of DL 2020's 11,386) are left out: the pool is all
the text there is.

    python scripts/trec_dl_small.py ../shared/data runs/trec-dl-small
    tasb quickstart --data runs/trec-dl-small --set output_dir=runs/qs-trec-dl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tasb.data import read_corpus, read_qrels, read_queries
from tasb.outputs import check_folder


def _qrels(path: Path, corpus: dict[str, str]) -> list[tuple[str, str, int]]:
    return [(qid, pid, grade) for qid, grades in read_qrels(path).items() for pid, grade in grades.items() if pid in corpus]


def build(shared: Path, out: Path) -> dict[str, int]:
    # the project's output policy: a new or empty folder only, nothing a user had is written over
    out = check_folder(out, None)
    topics = shared / "msmarco-passage-trec-dl-topics-qrels"
    corpus = read_corpus(shared / "msmarco-trec-dl-pool-corpus" / "collection.tsv")
    queries = {
        **read_queries(topics / "topics.dl19-passage.txt"),
        **read_queries(topics / "topics.dl20.txt"),
        **read_queries(topics / "topics.msmarco-passage.dev-subset.txt"),
    }
    dev = _qrels(topics / "qrels.msmarco-passage.dev-subset.txt", corpus)
    train = _qrels(topics / "qrels.dl19-passage.txt", corpus) + dev
    test = _qrels(topics / "qrels.dl20-passage.txt", corpus)
    judged = {qid for qid, _, _ in train + test}
    # a query in both splits would be tested on what it trained on
    assert not {qid for qid, _, _ in train} & {qid for qid, _, _ in test}, "train and test share a query"

    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for pid, text in corpus.items():
            handle.write(json.dumps({"_id": pid, "title": "", "text": text}) + "\n")
    with (out / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for qid in sorted(judged):
            handle.write(json.dumps({"_id": qid, "text": queries[qid]}) + "\n")
    for split, rows in (("train", train), ("test", test)):
        lines = ["query-id\tcorpus-id\tscore"] + [f"{qid}\t{pid}\t{grade}" for qid, pid, grade in rows]
        (out / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return {
        "passages": len(corpus),
        "train queries": len({qid for qid, _, _ in train}),
        "test queries": len({qid for qid, _, _ in test}),
        "train judgments": len(train),
        "test judgments": len(test),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shared", type=Path, help="the folder holding the TREC-DL material (../shared/data)")
    parser.add_argument("out", type=Path, help="the BEIR folder to write")
    args = parser.parse_args()
    print(json.dumps(build(args.shared, args.out)))


if __name__ == "__main__":
    main()
