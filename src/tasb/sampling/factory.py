"""The sampler a name chooses, built over the scored pairs: the one place the choice of sampler is made."""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

from tasb.data.records import ScoredPair
from tasb.sampling.random_sampler import PairArrays, RandomSampler
from tasb.sampling.tas import TASBalancedSampler, TASSampler

SAMPLERS: dict[str, type[RandomSampler]] = {"random": RandomSampler, "tas": TASSampler, "tas-balanced": TASBalancedSampler}


def build_sampler(
    name: str,
    pairs: Sequence[ScoredPair] | PairArrays,
    batch_size: int,
    seed: int,
    clusters: Mapping[str, Hashable] | None = None,
    clusters_per_batch: int = 1,
    margin_bins: int = 10,
) -> RandomSampler:
    """Sampler ``name`` (random, eq. 9; tas, eq. 11; tas-balanced, eq. 13) over ``pairs``, or over their arrays
    alone (a sampler of pair indices: ``next_indices``).

    tas and tas-balanced draw a batch's queries by ``clusters`` (qid -> cluster), ``clusters_per_batch`` of
    them; tas-balanced each query's pair from one of ``margin_bins`` margin ranges. Settings that do not fit
    the pairs (more clusters per batch than they have, say) raise ``ValueError``."""
    sampler = SAMPLERS.get(name)
    if sampler is None:
        raise ValueError(f"unknown sampler {name!r}: expected {', '.join(SAMPLERS)}")
    args: tuple = (batch_size,)
    if sampler is not RandomSampler:
        if clusters is None:
            raise ValueError(f"the {name} sampler needs clusters (qid -> cluster)")
        args = (clusters, batch_size, clusters_per_batch) + ((margin_bins,) if sampler is TASBalancedSampler else ())
    if isinstance(pairs, PairArrays):
        return sampler.from_arrays(pairs, *args, seed=seed)
    return sampler(pairs, *args, seed=seed)
