"""tasb: dense passage retrieval trained with TAS-Balanced (Hofstätter et al., SIGIR'21)."""

__version__ = "0.1.0"
