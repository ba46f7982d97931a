"""The scan codes: vectors rotated onto their principal axes, truncated, stored as int8.

Scanning posting lists is bound by memory bandwidth (~7 GB/s per core here), so the bytes per
candidate decide the speed: a 384-d float32 vector is 1,536 bytes, its code 128. A code keeps the
first ``k`` principal axes of the collection (they carry most of the variance) and quantises each
to int8 with a per-axis scale. The few hundred best candidates by this approximate score are then
re-ranked with the full vectors, so the code only has to rank, not to be exact.

Score of a code ``c`` for query ``q``: ``c @ (scale * (q @ basis))`` plus a constant per query
(``mean @ q``) that does not change the ranking.
"""

from __future__ import annotations

import numpy as np

_SAMPLE = 100_000
# The scale of an axis covers this quantile of |value|: a few outliers are clipped instead of
# coarsening the grid for everyone.
_SCALE_QUANTILE = 0.9995


def principal_axes(vectors: np.ndarray, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and principal axes of ``vectors`` (estimated on a sample).

    Returns:
        ``(mean, basis)``: ``(d,)`` and ``(d, d)`` float32; column ``i`` of ``basis`` is the axis
        with the ``i``-th largest variance.
    """
    rng = np.random.default_rng(seed)
    n = len(vectors)
    sample = vectors if n <= _SAMPLE else vectors[np.sort(rng.choice(n, _SAMPLE, replace=False))]
    sample = np.asarray(sample, dtype=np.float64)
    mean = sample.mean(axis=0)
    centered = sample - mean
    covariance = centered.T @ centered / max(1, len(sample) - 1)
    values, axes = np.linalg.eigh(covariance)
    order = np.argsort(values)[::-1]
    return mean.astype(np.float32), np.ascontiguousarray(axes[:, order], dtype=np.float32)


def project(vectors: np.ndarray, mean: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Coordinates of ``vectors`` on the kept axes: ``(n, k)`` float32."""
    return np.asarray((np.asarray(vectors, dtype=np.float32) - mean) @ basis, dtype=np.float32)


def code_scale(projected: np.ndarray) -> np.ndarray:
    """Per-axis quantisation step from a sample of projected vectors."""
    if not len(projected):
        return np.ones(projected.shape[1], dtype=np.float32)
    spread = np.quantile(np.abs(projected), _SCALE_QUANTILE, axis=0)
    return np.maximum(spread / 127.0, 1e-12).astype(np.float32)


def quantize(projected: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """int8 codes of projected vectors."""
    return np.clip(np.rint(projected / scale), -127, 127).astype(np.int8)
