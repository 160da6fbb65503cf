"""On-disk cache of encoder outputs, keyed by (text, encoder key).

Layout: ``<embedding_cache_dir>/<encoder key, made filename-safe>/shard-*.npz``; each
shard holds ``digests`` (SHA-1 of the text, (n,) bytes) and ``vectors`` (n, layers, d)
float16. New texts go to a new shard written atomically, so concurrent writers never
corrupt each other and a killed run loses at most its own shard. Retraining after a few
new labels encodes only the new texts.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from pathlib import Path

import numpy as np

from pushgen_core.reward.encoders import Encoder, ProgressCallback

logger = logging.getLogger(__name__)


def _digest(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


class EmbeddingCache:
    def __init__(self, root: Path, encoder: Encoder):
        self.encoder = encoder
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder.key)
        self.dir = Path(root) / safe
        self._index: dict[bytes, tuple[int, int]] | None = None
        self._shards: list[np.ndarray] = []

    def _load(self) -> dict[bytes, tuple[int, int]]:
        if self._index is not None:
            return self._index
        self._index, self._shards = {}, []
        for path in sorted(self.dir.glob("shard-*.npz")):
            try:
                with np.load(path, allow_pickle=False) as shard:
                    digests, vectors = shard["digests"], shard["vectors"]
            except (OSError, ValueError, KeyError) as exc:
                logger.warning(
                    "Ignoring unreadable embedding cache shard %s (%s); delete it to "
                    "silence this warning.",
                    path,
                    exc,
                )
                continue
            slot = len(self._shards)
            self._shards.append(vectors)
            for row, digest in enumerate(digests):
                # numpy's fixed-width bytes drop trailing NULs: pad the digest back
                self._index[bytes(digest).ljust(20, b"\0")] = (slot, row)
        return self._index

    def __len__(self) -> int:
        return len(self._load())

    def get(
        self, texts: list[str], on_progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Encoder outputs for ``texts`` (n, layers, d) float32, encoding only misses."""
        index = self._load()
        digests = [_digest(t) for t in texts]
        missing: dict[bytes, str] = {}
        for digest, text in zip(digests, texts, strict=True):
            if digest not in index:
                missing.setdefault(digest, text)
        if missing:
            logger.info("Encoding %d texts not in the embedding cache", len(missing))
            vectors = self.encoder.encode(list(missing.values()), on_progress)
            self._write(list(missing), vectors)
        elif on_progress is not None:
            on_progress(1.0, f"All {len(texts)} texts found in the embedding cache")
        shape = (len(self.encoder.layers), self.encoder.dim)
        out = np.empty((len(texts), *shape), np.float32)
        for i, digest in enumerate(digests):
            slot, row = index[digest]
            out[i] = self._shards[slot][row]
        return out

    def _write(self, digests: list[bytes], vectors: np.ndarray) -> None:
        vectors = vectors.astype(np.float16)
        digest_array = np.array(digests, dtype="S20")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            name = f"shard-{uuid.uuid4().hex}"
            partial = self.dir / f"{name}.partial.npz"
            np.savez(partial, digests=digest_array, vectors=vectors)
            os.replace(partial, self.dir / f"{name}.npz")
        except OSError as exc:
            logger.warning(
                "Could not write the embedding cache in %s (%s); embeddings will be "
                "recomputed next time.",
                self.dir,
                exc,
            )
        slot = len(self._shards)
        self._shards.append(vectors)
        for row, digest in enumerate(digests):
            self._index[digest] = (slot, row)
