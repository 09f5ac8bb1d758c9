"""A four-passage collection in MS MARCO TSV and TREC formats, shared by the CLI tests of bad input and outputs."""

CORPUS = (
    "p1\tThe cat sat on the mat.\n"
    "p2\tDense retrieval encodes passages into vectors.\n"
    "p3\tTopic-aware sampling composes batches from query clusters.\n"
    "p4\tA balanced margin sampler picks pairs across margin ranges.\n"
)
QUERIES = "q1\twhat is dense retrieval\nq2\tcats on mats\n"
QRELS = "q1 0 p2 1\nq2 0 p1 1\n"
RUN_A = "q1 Q0 p2 1 3.0 a\nq1 Q0 p1 2 1.0 a\nq2 Q0 p1 1 2.0 a\nq2 Q0 p3 2 0.5 a\n"
RUN_B = "q1 Q0 p2 1 0.9 b\nq1 Q0 p3 2 0.2 b\nq2 Q0 p1 1 0.8 b\nq2 Q0 p4 2 0.1 b\n"
