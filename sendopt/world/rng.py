"""Counter-based randomness: every draw is a pure function of (seed, stream, keys).

The generator never carries a random state from row to row. A uniform for
"user 17, day 3, the 2nd card payment" is the splitmix64 hash of those
numbers, so the same seed gives the same rows on any number of Spark
partitions and in any batch order, and a table can be regenerated for one day
(``simulate-outcomes``) without replaying the others.
"""
from __future__ import annotations

import zlib

import numpy as np
from scipy.special import ndtri

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (a bijection on uint64 with good avalanche)."""
    x = x ^ (x >> _S30)
    x = x * _M1
    x = x ^ (x >> _S27)
    x = x * _M2
    return x ^ (x >> _S31)


def stream_id(name: str) -> int:
    """A stable integer for a named random stream (``"card.mcc"``)."""
    return zlib.crc32(name.encode())


class Rng:
    """Draws keyed by ``(seed, stream, *keys)``; keys are broadcastable integer arrays."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def bits(self, stream: str, *keys) -> np.ndarray:
        with np.errstate(over="ignore"):
            h = _mix(np.uint64(self.seed & 0xFFFFFFFFFFFFFFFF) * _GOLDEN + np.uint64(stream_id(stream)))
            for key in keys:
                k = np.asarray(key).astype(np.int64).astype(np.uint64)
                h = _mix(h ^ (k + _GOLDEN))
        return h

    def uniform(self, stream: str, *keys) -> np.ndarray:
        """Uniform on [0, 1)."""
        return (self.bits(stream, *keys) >> _S11).astype(np.float64) * (1.0 / 9007199254740992.0)

    def normal(self, stream: str, *keys) -> np.ndarray:
        u = self.uniform(stream, *keys)
        return ndtri(np.clip(u, 1e-12, 1 - 1e-12))

    def exponential(self, stream: str, *keys, mean: float | np.ndarray = 1.0) -> np.ndarray:
        return -np.log1p(-self.uniform(stream, *keys)) * mean

    def integers(self, stream: str, high, *keys) -> np.ndarray:
        """Integers in ``[0, high)`` (``high`` may be an array)."""
        return np.minimum((self.uniform(stream, *keys) * high).astype(np.int64), np.asarray(high) - 1)

    def choice(self, stream: str, weights, *keys) -> np.ndarray:
        """Index drawn with probabilities ∝ ``weights`` (a 1-d sequence)."""
        cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
        cdf /= cdf[-1]
        return np.minimum(np.searchsorted(cdf, self.uniform(stream, *keys), side="right"), len(cdf) - 1)

    def poisson(self, stream: str, lam, *keys, kmax: int = 40) -> np.ndarray:
        """Poisson counts by inverse CDF of one keyed uniform (small means; capped at ``kmax``)."""
        u = self.uniform(stream, *keys)
        lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), u.shape)
        p = np.exp(-lam)
        cdf = p.copy()
        n = np.zeros(u.shape, dtype=np.int64)
        for k in range(1, kmax + 1):
            below = u >= cdf
            if not below.any():
                break
            n += below
            p = p * lam / k
            cdf = cdf + p
        return n

    def permutation_ranks(self, stream: str, n: int, *keys) -> np.ndarray:
        """Per key, a random ordering of ``range(n)`` (last axis): rank of each slot."""
        u = self.uniform(stream, *[np.asarray(k)[..., None] for k in keys], np.arange(n))
        return (u[..., None, :] < u[..., :, None]).sum(axis=-1)  # n is small: pairwise beats two argsorts


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))
