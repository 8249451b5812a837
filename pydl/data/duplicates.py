"""Identical and near-identical samples: the groups of exact copies inside one array, and
the leaks across a train/test split (exact copies, then near copies found with
``scipy.spatial.cKDTree``).

Samples are compared as flat float64 rows. Exact copies are found by hashing the rows'
bytes (every sample, any size). "Near" means a root-mean-square difference per feature of at
most ``tol`` after standardisation, which is per feature for tabular data and one scale for
all values of images and sequences (pixels share a unit; a near-constant pixel would
otherwise turn invisible noise into a huge distance). The radius is also capped at half the
smallest distance between a sampled training sample and its nearest distinct neighbour, so
that in low-dimensional data, where distinct samples sit close together, "near" still means
"closer than any two training samples are" (and the report says when the cap applied).

The near search is bounded in time: beyond ``max_samples`` training or test samples it
searches random samples of that size (the result says how many it searched). Above 32
features the tree holds an orthonormal projection of the rows on their leading principal
directions; a projection never lengthens a distance, so every pair within the radius is
found among the tree's candidates and then confirmed on the full rows.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

__all__ = ["duplicate_groups", "find_leaks"]

_TREE_DIMS = 32          # above this, search a projection (kd-trees lose their pruning in high dimensions)
_RADIUS_PROBES = 500     # training samples whose nearest-neighbour distance sets the radius cap


def _row_keys(rows: np.ndarray) -> np.ndarray:
    """One opaque key per row, equal exactly when the rows are equal (-0.0 counts as 0.0)."""
    rows = np.ascontiguousarray(rows + 0.0, dtype=np.float64)  # + 0.0 turns -0.0 into 0.0
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()


def duplicate_groups(rows: np.ndarray) -> List[List[int]]:
    """Groups (ascending indices, ordered by first index) of two or more identical rows."""
    if len(rows) < 2:
        return []
    _, inverse, counts = np.unique(_row_keys(rows), return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(counts)[:-1]
    groups = [g.tolist() for g, c in zip(np.split(order, bounds), counts) if c > 1]
    return sorted(groups, key=lambda g: g[0])


def _exact_matches(train: np.ndarray, test: np.ndarray) -> Dict[int, int]:
    """test index -> the first training index with an identical row."""
    first: Dict[bytes, int] = {}
    for i, key in enumerate(_row_keys(train)):
        first.setdefault(key.tobytes(), i)
    out = {}
    for j, key in enumerate(_row_keys(test)):
        i = first.get(key.tobytes())
        if i is not None:
            out[j] = i
    return out


def _scales(train: np.ndarray, per_feature: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Centre and spread for standardisation; a zero spread counts as 1 (raw units)."""
    if per_feature:
        centre, spread = np.nanmean(train, axis=0), np.nanstd(train, axis=0)
    else:
        centre, spread = np.full(train.shape[1], np.nanmean(train)), np.full(train.shape[1], np.nanstd(train))
    return centre, np.where(spread > 0, spread, 1.0)


def _nearest_distances(points: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """For each point, the distance to its nearest row of ``pool`` that is not identical to it."""
    best = np.full(len(points), np.inf)
    sq_pool = np.einsum("ij,ij->i", pool, pool)
    for start in range(0, len(points), 256):  # chunks keep the distance matrix small
        p = points[start:start + 256]
        size = np.einsum("ij,ij->i", p, p)[:, None] + sq_pool[None, :]
        d2 = size - 2.0 * p @ pool.T
        d2[d2 <= 1e-10 * np.maximum(size, 1e-300)] = np.inf  # identical rows, up to round-off
        best[start:start + 256] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return best


def find_leaks(train: np.ndarray, test: np.ndarray, *, per_feature: bool, tol: float, max_samples: int,
               rng: np.random.Generator) -> Tuple[List[Tuple[int, int]], List[float], dict]:
    """Pairs ``(train_index, test_index)`` of identical or near-identical rows, one per leaked
    test row (its nearest training row), sorted by test index; their RMS standardised
    distances (0.0 for exact copies); and a summary of the search (radius, how many samples
    were searched, whether that was a sample)."""
    exact = _exact_matches(train, test)
    d = train.shape[1]
    finite_train = np.flatnonzero(np.isfinite(train).all(axis=1))
    finite_test = np.array([j for j in np.flatnonzero(np.isfinite(test).all(axis=1)) if j not in exact], dtype=np.int64)
    pool = finite_train if len(finite_train) <= max_samples else np.sort(rng.choice(finite_train, max_samples, False))
    queries = finite_test if len(finite_test) <= max_samples else np.sort(rng.choice(finite_test, max_samples, False))
    info = {"radius": 0.0, "tol": tol, "capped": False, "train_searched": int(len(pool)), "train_total": int(len(train)),
            "test_searched": int(len(queries)), "test_total": int(len(test)),
            "sampled": bool(len(pool) < len(finite_train) or len(queries) < len(finite_test))}
    pairs = {j: (i, 0.0) for j, i in exact.items()}
    if len(pool) >= 2 and len(queries):
        centre, spread = _scales(train[finite_train], per_feature)
        z_pool = (train[pool] - centre) / spread
        z_query = (test[queries] - centre) / spread
        probes = z_pool[rng.choice(len(z_pool), min(_RADIUS_PROBES, len(z_pool)), replace=False)]
        spacing = _nearest_distances(probes, z_pool)
        spacing = spacing[np.isfinite(spacing)]
        radius = tol * np.sqrt(d)
        if spacing.size and 0.5 * float(spacing.min()) < radius:
            radius = 0.5 * float(spacing.min())
            info["capped"] = True  # the training samples themselves lie this close together
        info["radius"] = float(radius / np.sqrt(d))  # per feature, like tol
        for j, (i, dist) in _near_pairs(z_pool, z_query, radius).items():
            pairs[int(queries[j])] = (int(pool[i]), dist / np.sqrt(d))
    order = sorted(pairs)
    return [(pairs[j][0], j) for j in order], [float(pairs[j][1]) for j in order], info


def _near_pairs(z_pool: np.ndarray, z_query: np.ndarray, radius: float) -> Dict[int, Tuple[int, float]]:
    """query index -> (nearest pool index, distance) for the queries with a pool row within radius."""
    from scipy.spatial import cKDTree

    if radius <= 0:
        return {}
    if z_pool.shape[1] <= _TREE_DIMS:
        dist, idx = cKDTree(z_pool).query(z_query, k=1, distance_upper_bound=radius)
        hit = np.flatnonzero(np.isfinite(dist))
        return {int(j): (int(idx[j]), float(dist[j])) for j in hit}
    # Orthonormal basis of the leading principal directions, from a sample of the pool.
    # Any orthonormal basis keeps the search exact; the leading principal directions prune most.
    # (eigh of the small covariance: much faster than an SVD of the samples on a busy machine.)
    sample = z_pool[:: max(1, len(z_pool) // 2000)]
    sample = sample - sample.mean(axis=0)
    basis = np.linalg.eigh(sample.T @ sample)[1][:, ::-1][:, :_TREE_DIMS]
    tree = cKDTree(z_pool @ basis)
    out = {}
    for j, candidates in enumerate(tree.query_ball_point(z_query @ basis, radius)):
        if not candidates:
            continue
        dist = np.linalg.norm(z_pool[candidates] - z_query[j], axis=1)
        k = int(np.argmin(dist))
        if dist[k] <= radius:
            out[j] = (int(candidates[k]), float(dist[k]))
    return out
