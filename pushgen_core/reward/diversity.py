"""Top-k selection that trades reward for variety (maximal marginal relevance)."""

from __future__ import annotations

import numpy as np


def select_diverse(scores, embeddings, k: int, diversity: float = 0.3) -> list[int]:
    """Maximal marginal relevance order of candidate indices (diversity 0 = pure score
    order).

    Scores are min-max scaled to [0, 1] so ``diversity`` weighs them against cosine
    similarity on a common scale: each step picks the candidate maximising
    ``(1 - diversity) * score - diversity * max_similarity_to_already_picked``.
    Ties keep the lower index. Returns at most ``k`` indices.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be between 0 and 1, got {diversity}.")
    k = max(0, min(int(k), len(scores)))
    if k == 0:
        return []
    vectors = np.asarray(embeddings, dtype=np.float64).reshape(len(scores), -1)
    if diversity == 0:
        return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]

    # Cosine similarity on L2-normalised rows
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms > 0, norms, 1.0)
    similarity = vectors @ vectors.T  # (n, n)
    span = scores.max() - scores.min()
    relevance = (scores - scores.min()) / span if span > 0 else np.zeros_like(scores)

    picked: list[int] = []
    closest = np.full(len(scores), -np.inf)  # max similarity to a picked candidate
    available = np.ones(len(scores), dtype=bool)
    for _ in range(k):
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        gain = (1 - diversity) * relevance - diversity * penalty
        gain[~available] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        available[best] = False
        closest = np.maximum(closest, similarity[best])
    return picked
