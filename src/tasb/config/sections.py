"""The config sections: each a dataclass whose numeric fields declare their ranges (``limits``)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

from tasb.config.ranges import AT_LEAST_0, AT_LEAST_1, FRACTION, PORT, POSITIVE, SEED, Checked, FieldError, Range
from tasb.errors import InputError

Sampler = Literal["random", "tas", "tas-balanced"]
TeacherMode = Literal["pairwise", "in-batch", "dual"]
InBatchLoss = Literal["margin-mse", "kldiv", "listnet", "lambdaloss"]


@dataclasses.dataclass
class DataConfig:
    """Where queries, passages and judgments come from (see ``tasb.data.load_dataset``)."""

    data: str | None = None
    split: str = "train"
    corpus: str | None = None
    queries: str | None = None
    qrels: str | None = None


@dataclasses.dataclass
class StudentConfig(Checked):
    """The BERT_DOT student: one shared encoder, one pooled vector, dot product (paper eq. 4-5)."""

    model: str = "all-MiniLM-L6-v2"
    # None keeps what the model folder says (all-MiniLM-L6-v2: mean); "cls" is the paper's choice
    pooling: Literal["cls", "mean"] | None = None
    # None keeps what the model folder says (all-MiniLM-L6-v2 normalises: zero-shot nDCG@10 on SciFact
    # .643 with, .611 without); the paper's BERT_DOT does not normalise
    normalize: bool | None = None
    query_max_length: int = 30
    passage_max_length: int = 200

    limits = {"query_max_length": AT_LEAST_1, "passage_max_length": AT_LEAST_1}


@dataclasses.dataclass
class TeacherConfig(Checked):
    """Recipe of the BERT_CAT cross-encoder teacher (``tasb teacher train``)."""

    model: str = "all-MiniLM-L6-v2"
    # pointwise: BCE on (q, p, label); listwise: softmax cross-entropy over 1 positive + n negatives
    loss: Literal["pointwise", "listwise"] = "listwise"
    negatives_depth: int = 100
    num_negatives: int = 7
    steps: int = 200
    max_minutes: float | None = None
    batch_size: int = 8
    learning_rate: float = 2e-5
    warmup_steps: int = 20
    max_length: int = 256
    bf16: bool = True
    seed: int = 42

    limits = {
        "negatives_depth": AT_LEAST_1, "num_negatives": AT_LEAST_1, "steps": AT_LEAST_1, "max_minutes": POSITIVE, "batch_size": AT_LEAST_1,
        "learning_rate": POSITIVE, "warmup_steps": AT_LEAST_0, "max_length": AT_LEAST_1, "seed": SEED,
    }


@dataclasses.dataclass
class ColbertConfig(Checked):
    """Recipe of the ColBERT teacher (``tasb teacher train-colbert``)."""

    model: str = "all-MiniLM-L6-v2"
    # 0 keeps the encoder's own token space: all-MiniLM-L6-v2's token vectors already re-rank well untrained
    dim: int = 128
    query_max_length: int = 30
    passage_max_length: int = 200
    # the passage cap the saved teacher scores with (null: passage_max_length). Longer passages cost only
    # encoding time, once per passage, and SciFact's abstracts need them: .741 vs .720 nDCG@10 at 512 vs 200
    scoring_passage_max_length: int | None = 512
    # listwise: softmax over a judged positive vs run negatives; margin-mse: the pairwise score file (the
    # paper's ColBERT learned BERT_CAT's margins); both: the sum, each on its own batch
    loss: Literal["listwise", "margin-mse", "both"] = "listwise"
    teacher_scores: str = ""
    negatives_depth: int = 100
    num_negatives: int = 7
    # every other query's passages in the batch are negatives too: more signal for no extra encoding
    in_batch_negatives: bool = True
    steps: int = 200
    max_minutes: float | None = None
    batch_size: int = 8
    learning_rate: float = 2e-5
    warmup_steps: int = 20
    bf16: bool = True
    seed: int = 42

    limits = {
        "dim": AT_LEAST_0, "query_max_length": AT_LEAST_1, "passage_max_length": AT_LEAST_1, "scoring_passage_max_length": AT_LEAST_1,
        "negatives_depth": AT_LEAST_1, "num_negatives": AT_LEAST_1, "steps": AT_LEAST_1, "max_minutes": POSITIVE, "batch_size": AT_LEAST_1,
        "learning_rate": POSITIVE, "warmup_steps": AT_LEAST_0, "seed": SEED,
    }


@dataclasses.dataclass
class ValidationConfig(Checked):
    """Approximate-retrieval early stopping (paper Sec. 4.3): held-out training queries re-ranked every few steps."""

    # judged training queries held out from training and re-ranked by the student; 0 turns validation off
    queries: int = 0
    # a file of qids (one per line) to hold out instead of drawing ``queries`` of them
    qids: str = ""
    # candidates are a baseline's top-``depth`` joined with the judged passages; "" = BM25's, computed on the fly
    run: str = ""
    depth: int = 100
    # evaluate after every ``every`` steps (and once before the first step), stop after ``patience``
    # evaluations without a better ``metric``; the best checkpoint becomes the run's model
    every: int = 100
    patience: int = 3
    metric: str = "nDCG@10"
    # graded judgments count as relevant from this grade up (RR, recall); nDCG uses the grades
    rel: int = 1
    # picks the held-out queries; kept apart from the training seed so runs of a grid validate alike
    seed: int = 0

    @property
    def enabled(self) -> bool:
        return bool(self.queries or self.qids)

    limits = {
        "queries": AT_LEAST_0, "depth": AT_LEAST_1, "every": AT_LEAST_1, "patience": AT_LEAST_1, "rel": AT_LEAST_1, "seed": SEED,
    }


@dataclasses.dataclass
class TrainConfig(Checked):
    """``tasb train``: distillation of the student from a pairwise teacher score file and/or an in-batch ColBERT teacher."""

    output_dir: str = "runs/train"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    teacher_scores: str = ""
    student: StudentConfig = dataclasses.field(default_factory=StudentConfig)
    # how a batch is composed: random (eq. 9), tas (eq. 11: queries of n clusters), tas-balanced (eq. 13: + margin ranges)
    sampler: Sampler = "random"
    # tas / tas-balanced: a clusters.tsv (qid<TAB>cluster, as ``tasb cluster`` writes) covering every scored query
    clusters: str = ""
    # the paper's n: clusters a batch is drawn from, b // n queries each (the paper: 1 at b = 32)
    clusters_per_batch: int = 1
    # tas-balanced: the paper's h, margin ranges per query drawn uniformly before a pair within one
    margin_bins: int = 10
    # compose batches in a separate process feeding a bounded queue, so the trainer never waits for one
    sampler_process: bool = True
    # the teacher rows of Table 4: pairwise (eq. 6), in-batch (eq. 7) or dual (eq. 8: pairwise + alpha * in-batch)
    teacher_mode: TeacherMode = "pairwise"
    # weight of the pairwise part (eq. 6) in pairwise and dual modes; the paper's is 1
    pairwise_weight: float = 1.0
    # the rows of Table 3: the loss of the in-batch part
    inbatch_loss: InBatchLoss = "margin-mse"
    alpha: float = 0.75
    # the ColBERT folder that scores every query against every passage of a batch (in-batch and dual)
    colbert_teacher: str = ""
    # ColBERT scores are multiplied by this before the in-batch loss: brings them to the student's scale
    colbert_scale: float = 1.0
    # fp16 ColBERT token vectors of all training passages: auto builds them when they fit in colbert_cache_max_gb
    colbert_cache: Literal["auto", "always", "never"] = "auto"
    colbert_cache_max_gb: float = 4.0
    batch_size: int = 32
    steps: int = 1000
    max_minutes: float | None = None
    learning_rate: float = 7e-6
    # student scores are multiplied by this before margins are compared to the teacher's: 1 for the
    # paper's unnormalised dot product; a cosine student needs ~10 to reach z-normalised teacher margins
    score_scale: float = 1.0
    # weight of the judged labels beside the teachers: cross-entropy of each query's judged positive against
    # every passage of the batch (sentence-transformers' MultipleNegativesRankingLoss); 0 = the paper's losses
    # alone. On SciFact (150 steps, 100 held-out train queries) validation nDCG@10 .748 with it, .716 for the
    # sentence-transformers recipe on the same triples (docs/student.md)
    contrastive_weight: float = 1.0
    # the label part's inverse temperature on the student's similarities; null: 20 for a normalised (cosine)
    # student, as sentence-transformers does, 1 for the paper's unnormalised dot product
    contrastive_scale: float | None = None
    warmup_steps: int = 0
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    # the loss parts, learning rate, speed, sampler wait and validation metrics also go to <run>/tensorboard/
    tensorboard: bool = False
    bf16: bool = True
    seed: int = 42
    validation: ValidationConfig = dataclasses.field(default_factory=ValidationConfig)

    limits = {
        "clusters_per_batch": AT_LEAST_1, "margin_bins": AT_LEAST_1, "alpha": AT_LEAST_0, "pairwise_weight": AT_LEAST_0, "colbert_scale": POSITIVE,
        "colbert_cache_max_gb": AT_LEAST_0, "batch_size": AT_LEAST_1, "steps": AT_LEAST_0, "max_minutes": POSITIVE,
        "learning_rate": POSITIVE, "score_scale": POSITIVE, "contrastive_weight": AT_LEAST_0, "contrastive_scale": POSITIVE,
        "warmup_steps": AT_LEAST_0, "checkpoint_every": AT_LEAST_1, "keep_checkpoints": AT_LEAST_1, "log_every": AT_LEAST_1, "seed": SEED,
    }


@dataclasses.dataclass
class GridConfig(Checked):
    """One block of an experiment grid: every combination of its lists is one training run."""

    sampler: list[Sampler] = dataclasses.field(default_factory=lambda: ["random", "tas", "tas-balanced"])
    teacher_mode: list[TeacherMode] = dataclasses.field(default_factory=lambda: ["pairwise", "in-batch", "dual"])
    # ignored by pairwise runs, which have no in-batch part
    inbatch_loss: list[InBatchLoss] = dataclasses.field(default_factory=lambda: ["margin-mse"])
    seed: list[int] = dataclasses.field(default_factory=lambda: [42])

    limits = {"seed": SEED}


@dataclasses.dataclass
class ExperimentConfig(Checked):
    """``tasb experiment``: a grid of training runs, each evaluated on the test queries, ready for ``tasb report``."""

    output_dir: str = "runs/experiment"
    # every run starts from this; the grid sets its sampler, teacher_mode, inbatch_loss, seed and output_dir
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    # test queries and judgments; data null = train.data's folder
    test: DataConfig = dataclasses.field(default_factory=lambda: DataConfig(split="test"))
    # the union of these blocks, each run once (pairwise runs differing only in inbatch_loss are one run)
    grids: list[GridConfig] = dataclasses.field(default_factory=lambda: [GridConfig()])
    # test-set rows computed here: BM25, and the initial student (train.student, untrained)
    bm25_baseline: bool = True
    initial_baseline: bool = True
    # sentence-transformers' own recipe (MultipleNegativesRankingLoss, in-batch + the score file's hard
    # negatives) from train.student, with train's batch size, learning rate, steps and max_minutes
    sentence_transformers_baseline: bool = True
    # more rows from existing TREC runs over the test queries, name -> path (e.g. the teacher's re-ranking)
    references: dict[str, str] = dataclasses.field(default_factory=dict)
    # rows (bm25, initial, sentence-transformers or a reference name) every student is t-tested against in the report
    compare_to: list[str] = dataclasses.field(default_factory=lambda: ["bm25", "sentence-transformers"])
    measures: list[str] = dataclasses.field(default_factory=lambda: ["nDCG@10", "RR@10", "R@100", "R@1000"])
    # RR and recall count a passage relevant from this grade up (TREC-DL: 2); nDCG uses the grades
    rel: int = 1
    depth: int = 1000
    # an evaluated run's checkpoints (~270 MB each for MiniLM) are deleted; its model and logs stay
    keep_checkpoints: bool = False

    limits = {"rel": AT_LEAST_1, "depth": AT_LEAST_1}


@dataclasses.dataclass
class IndexConfig(Checked):
    """How ``tasb index`` searches: exact (flat) or approximate (faiss HNSW, IVF-PQ), all by inner product."""

    type: Literal["flat", "hnsw", "ivfpq"] = "flat"
    # HNSW: links per vector, and the candidate lists kept while building / searching (larger: better recall, slower)
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 128
    # IVF-PQ: inverted lists (0: 4 x sqrt(passages)), lists probed per query, and the product quantiser
    ivf_lists: int = 0
    nprobe: int = 16
    # sub-vectors per vector (0: dim / 4, must divide dim) and bits per sub-vector code
    pq_subquantizers: int = 0
    pq_bits: int = 8

    limits = {
        "hnsw_m": Range(2), "hnsw_ef_construction": AT_LEAST_1, "hnsw_ef_search": AT_LEAST_1, "ivf_lists": AT_LEAST_0, "nprobe": AT_LEAST_1,
        "pq_subquantizers": AT_LEAST_0, "pq_bits": Range(1, 16),
    }


@dataclasses.dataclass
class FuseConfig(Checked):
    """``tasb fuse``: several TREC runs of the same queries fused into one."""

    runs: list[str] = dataclasses.field(default_factory=list)
    out: str = "fused.trec"
    # interpolation of per-query normalised scores (Lin et al.'s dense-sparse hybrids) or reciprocal rank fusion
    method: Literal["interpolation", "rrf"] = "interpolation"
    # one per run; empty: all equal
    weights: list[float] = dataclasses.field(default_factory=list)
    normalization: Literal["min-max", "z-score"] = "min-max"
    # RRF's k: 60 in Cormack et al.; larger values flatten the head's advantage
    rrf_k: int = 60
    depth: int = 1000

    limits = {"weights": AT_LEAST_0, "rrf_k": AT_LEAST_0, "depth": AT_LEAST_1}


@dataclasses.dataclass
class PipelineConfig(Checked):
    """A retrieval pipeline: a dense and/or BM25 first stage, fused when both, then optionally re-ranked."""

    name: str = ""
    # a dense first stage: an index folder from `tasb index`, searched with the model that built it
    index: str | None = None
    # None: the model that built the index (another must match its fingerprint)
    model: str | None = None
    bm25: bool = False
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    # dense + BM25: interpolation of per-query normalised scores, or reciprocal rank fusion
    fusion: Literal["interpolation", "rrf"] = "interpolation"
    # dense first, then BM25; empty: equal
    fusion_weights: list[float] = dataclasses.field(default_factory=list)
    normalization: Literal["min-max", "z-score"] = "min-max"
    rrf_k: int = 60
    # re-ranker specs as for `tasb rerank` (a cross-encoder folder, colbert:MODEL, dot:MODEL, bm25); several: an ensemble
    rerank: list[str] = dataclasses.field(default_factory=list)
    rerank_weights: list[float] = dataclasses.field(default_factory=list)
    # how many of the first stage's top passages are re-ranked; 0: no re-ranking
    depth: int = 0
    # a ColBERT re-ranker keeps passage encodings across queries (faster on repeats; memory grows with them)
    rerank_cache: bool = False
    k: int = 1000
    bf16: bool = True

    limits = {
        "bm25_k1": AT_LEAST_0, "bm25_b": FRACTION, "fusion_weights": AT_LEAST_0, "rrf_k": AT_LEAST_0, "rerank_weights": AT_LEAST_0,
        "depth": AT_LEAST_0, "k": AT_LEAST_1,
    }


@dataclasses.dataclass
class TopicSetConfig:
    """Queries and their judgments, e.g. TREC-DL 2019."""

    name: str = ""
    queries: str = ""
    qrels: str = ""


@dataclasses.dataclass
class PipelinesConfig(Checked):
    """``tasb pipelines``: every pipeline over every topic set, evaluated and timed per query, as one table."""

    corpus: str = ""
    topics: list[TopicSetConfig] = dataclasses.field(default_factory=list)
    pipelines: list[PipelineConfig] = dataclasses.field(default_factory=list)
    # RR and recall count grades >= rel as relevant (TREC-DL: 2)
    rel: int = 2
    # queries per pipeline call: 1 times each query alone, as a user waits for it
    batch_size: int = 1
    output_dir: str = "runs/pipelines"

    limits = {"rel": AT_LEAST_1, "batch_size": AT_LEAST_1}


@dataclasses.dataclass
class ServeConfig(Checked):
    """``tasb serve``: an HTTP search endpoint over a pipeline; requests may switch its fusion and re-ranking off."""

    pipeline: PipelineConfig = dataclasses.field(default_factory=PipelineConfig)
    # passage texts, returned with each hit and read by BM25 and the re-ranker: a file, or a BEIR folder (data)
    corpus: str | None = None
    data: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    default_k: int = 10
    max_k: int = 1000
    max_query_chars: int = 1000
    # queries per POST /search/batch
    max_batch_queries: int = 64
    # queries x k per request: the response (every hit with its text) is what costs memory and time, not the body
    max_results_per_request: int = 10000
    max_body_bytes: int = 65536
    # micro-batching: queries arriving within batch_wait_ms of the first are encoded and searched together
    batch_size: int = 32
    batch_wait_ms: float = 3.0

    limits = {
        "port": PORT, "default_k": AT_LEAST_1, "max_k": AT_LEAST_1, "max_query_chars": AT_LEAST_1, "max_batch_queries": AT_LEAST_1,
        "max_results_per_request": AT_LEAST_1, "max_body_bytes": AT_LEAST_1, "batch_size": AT_LEAST_1, "batch_wait_ms": AT_LEAST_0,
    }


@dataclasses.dataclass
class LatencyConfig(Checked):
    """``tasb bench latency``: query encoding + search time per batch size, the paper's Table 1."""

    # an index folder from `tasb index` (any type); its model encodes the queries
    index: str = ""
    # query texts to time (TSV qid<TAB>text or BEIR JSONL); batches cycle through them
    queries: str = ""
    # None: the model the index was built with
    model: str | None = None
    batch_sizes: list[int] = dataclasses.field(default_factory=lambda: [1, 10, 100, 1000])
    k: int = 1000
    # each batch size is timed for at least this long and min_repeats batches, at most max_repeats
    seconds: float = 10.0
    min_repeats: int = 5
    max_repeats: int = 2000
    warmup: int = 3
    # a flat index of this many random vectors (the index's dimension) is timed too; 0 skips it
    synthetic: int = 1_000_000
    # None: encode queries as the index encoded its passages
    bf16: bool | None = None
    seed: int = 0

    limits = {
        "batch_sizes": AT_LEAST_1, "k": AT_LEAST_1, "seconds": AT_LEAST_0, "min_repeats": AT_LEAST_1, "max_repeats": AT_LEAST_1,
        "warmup": AT_LEAST_0, "synthetic": AT_LEAST_0, "seed": SEED,
    }


@dataclasses.dataclass
class ClusterConfig(Checked):
    """``tasb cluster``: the training queries' topic clusters for TAS (paper Sec. 3, eq. 10)."""

    output_dir: str = "runs/clusters"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    # the BERT_DOT whose query vectors are clustered (the paper: a pairwise-trained baseline)
    model: str = "all-MiniLM-L6-v2"
    # None: about 200 queries per cluster, the paper's 2K clusters for 400K queries
    k: int | None = None
    niter: int = 20
    seed: int = 42
    batch_size: int = 256
    bf16: bool = True
    plot_clusters: int = 6
    plot_examples: int = 3

    limits = {
        "k": AT_LEAST_1, "niter": AT_LEAST_1, "seed": SEED, "batch_size": AT_LEAST_1, "plot_clusters": AT_LEAST_1, "plot_examples": AT_LEAST_0,
    }


@dataclasses.dataclass
class SampleConfig(Checked):
    """``tasb sample``: the batches a sampler composes from a teacher score file, written out to inspect."""

    teacher_scores: str = ""
    # qid<TAB>cluster, as ``tasb cluster`` writes; needed by tas and tas-balanced, optional for random
    clusters: str = ""
    sampler: Sampler = "random"
    batch_size: int = 32
    batches: int = 100
    seed: int = 42
    clusters_per_batch: int = 1
    margin_bins: int = 10
    out: str = "batches.jsonl"
    # "": <out stem>.png next to ``out``
    plot: str = ""

    limits = {
        "batch_size": AT_LEAST_1, "batches": AT_LEAST_1, "seed": SEED, "clusters_per_batch": AT_LEAST_1, "margin_bins": AT_LEAST_1,
    }


@dataclasses.dataclass
class QuickstartConfig(Checked):
    """``tasb quickstart``: BM25 → teachers → student → index → search → evaluate, sized for a 2-core CPU."""

    output_dir: str = "runs/quickstart"
    data: str | None = None
    train_split: str = "train"
    test_split: str = "test"
    # where the student's training negatives come from: the initial student's own top-k (SciFact test
    # nDCG@10 .675 after 9 minutes) or BM25's top-k (.639, with R@100 falling from .918 to .889)
    negatives_from: Literal["initial-student", "bm25"] = "initial-student"
    negatives_depth: int = 30
    negatives_per_query: int = 6
    # ColBERT from all-MiniLM-L6-v2's own token space (dim 0), listwise on BM25 negatives; ~8 s a step here
    colbert: ColbertConfig = dataclasses.field(
        default_factory=lambda: ColbertConfig(dim=0, steps=60, max_minutes=8.0, warmup_steps=5)
    )
    # ~11 s a step here (8 queries x 8 passages of 256 tokens); only trained when its ensemble weight is > 0
    cross_encoder: TeacherConfig = dataclasses.field(
        default_factory=lambda: TeacherConfig(steps=40, max_minutes=6.0, warmup_steps=4)
    )
    # weights of the per-query normalised scores averaged into the pairwise teacher. "baseline" is the
    # sentence-transformers baseline, trained on the labels first: re-ranking BM25's top-100 of the 81
    # held-out SciFact queries, ColBERT alone .721, + 0.25 BM25 .747, the baseline alone .754, and
    # 0.25 ColBERT + 0.5 BM25 + 1 baseline .806, the best of weights in {0, .25, .5, 1} (docs/student.md)
    teacher_ensemble: dict[str, float] = dataclasses.field(
        default_factory=lambda: {"colbert": 0.25, "bm25": 0.5, "baseline": 1.0, "bi-encoder": 0.0, "cross-encoder": 0.0}
    )
    teacher_eval_depth: int = 100
    student: StudentConfig = dataclasses.field(default_factory=StudentConfig)
    # pairwise, in-batch or dual (eq. 8); the in-batch teacher is the trained ColBERT. Measured here (9 min
    # each, same score file): pairwise .690 nDCG@10 / R@100 .928, dual .669 / .935 (scale .5), dual .653 (scale 1)
    teacher_mode: TeacherMode = "pairwise"
    inbatch_loss: InBatchLoss = "margin-mse"
    alpha: float = 0.75
    # ColBERT's in-batch margins are about twice the cosine student's (x score_scale 10): least squares gives .49
    colbert_scale: float = 0.5
    # ~2.8-3.5 s a step here at batch 16 with bf16: 170-210 steps fit in the 10 minutes (the baseline gets the same)
    train_steps: int = 250
    train_max_minutes: float | None = 10.0
    batch_size: int = 16
    # 5e-5 over 2e-5: validation nDCG@10 .760 vs .748 at 150 steps (docs/student.md); the baseline gets the same
    learning_rate: float = 5e-5
    warmup_steps: int = 0
    # the default student normalises (cosine scores), the teacher's margins are z-scores
    score_scale: float = 10.0
    # the judged labels beside the teacher (TrainConfig.contrastive_weight) and the teacher's pairwise weight
    contrastive_weight: float = 1.0
    contrastive_scale: float | None = None
    pairwise_weight: float = 1.0
    # judged training queries held out from teachers and student, on which the student is validated from
    # step 0 (its best validated model is kept, the starting one included); null: a tenth of the judged
    # queries, 20 to 100 (a fifth below 100 queries); 0: none
    validation_queries: int | None = None
    # the held-out queries re-rank BM25's top validation_depth joined with their judged passages
    validation_depth: int = 20
    validation_every: int = 100
    # sentence-transformers' own recipe (MultipleNegativesRankingLoss) on the same triples and budget, as a row
    baseline: bool = True
    bf16: bool = True
    seed: int = 42

    limits = {
        "negatives_depth": AT_LEAST_1, "negatives_per_query": AT_LEAST_1, "teacher_ensemble": AT_LEAST_0, "teacher_eval_depth": AT_LEAST_1,
        "alpha": AT_LEAST_0, "colbert_scale": POSITIVE, "train_steps": AT_LEAST_0, "train_max_minutes": POSITIVE, "batch_size": AT_LEAST_1,
        "learning_rate": POSITIVE, "warmup_steps": AT_LEAST_0, "score_scale": POSITIVE, "contrastive_weight": AT_LEAST_0,
        "contrastive_scale": POSITIVE, "pairwise_weight": AT_LEAST_0, "validation_queries": AT_LEAST_0, "validation_depth": AT_LEAST_1, "validation_every": AT_LEAST_1,
        "seed": SEED,
    }


@dataclasses.dataclass
class CommandOptions(Checked):
    """The numeric options of the commands that take no config, by parameter name; ``check_options`` checks them
    before a command does anything. A name means the same in every command (``--k``: at least 1 passage or cluster)."""

    k: int | None = None
    k1: float | None = None
    b: float | None = None
    rel: int | None = None
    weight: list[float] | None = None
    depth: int | None = None
    max_length: int | None = None
    negatives_per_query: int | None = None
    seed: int | None = None
    batch_size: int | list[int] | None = None
    batches: int | None = None
    niter: int | None = None
    plot_clusters: int | None = None
    plot_examples: int | None = None
    clusters_per_batch: int | None = None
    margin_bins: int | None = None
    rrf_k: int | None = None
    port: int | None = None
    synthetic: int | None = None
    seconds: float | None = None

    limits = {
        "k": AT_LEAST_1, "k1": AT_LEAST_0, "b": FRACTION, "rel": AT_LEAST_1, "weight": AT_LEAST_0, "depth": AT_LEAST_1,
        "max_length": AT_LEAST_1, "negatives_per_query": AT_LEAST_1, "seed": SEED, "batch_size": AT_LEAST_1, "batches": AT_LEAST_1,
        "niter": AT_LEAST_1, "plot_clusters": AT_LEAST_1, "plot_examples": AT_LEAST_0, "clusters_per_batch": AT_LEAST_1,
        "margin_bins": AT_LEAST_1, "rrf_k": AT_LEAST_0, "port": PORT, "synthetic": AT_LEAST_0, "seconds": AT_LEAST_0,
    }


def check_options(values: dict[str, Any]) -> None:
    """Refuse a command's numeric option out of its ``CommandOptions`` range, naming the option as typed."""
    names = {field.name for field in dataclasses.fields(CommandOptions)}
    try:
        CommandOptions(**{name: value for name, value in values.items() if name in names and value is not None})
    except FieldError as err:
        name = re.match(r"\w+", err.key).group()  # weight[1] was given with --weight
        raise InputError("--" + name.replace("_", "-"), err.requirement, err.got) from None
