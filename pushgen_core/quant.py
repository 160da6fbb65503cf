"""A 4-bit weight-only path for CPU: group-wise int4 weights, bf16 activations.

Every ``nn.Linear`` of the generator (and the tied embedding / ``lm_head``) is stored
as unsigned 4-bit codes, two per byte, plus one scale and one offset per group of
``group_size`` input features::

    weight[n, k] ~= (code[n, k] - 8) * scale[g, n] + zero[g, n],   g = k // group_size

The matmul runs in PyTorch's own CPU kernel (``aten._weight_int4pack_mm_for_cpu``),
which unpacks the codes on the fly: the weights stay 4-bit in memory at run time. That
kernel is only vectorised for bfloat16 activations (float32 and float16 inputs take a
scalar path 15-40x slower than a dense fp32 matmul, measured on this AVX-512 machine),
so :class:`Int4Linear` casts its input to bfloat16 and its output back.

The scheme is asymmetric min/max per group, the same shape as the GGUF ``Q4_1`` blocks
the embedded SmolLM2 file ships (32 weights, one fp16 scale and one fp16 minimum). With
``group_size=32`` the dequantized GGUF weights re-quantize to the very same codes, so
the only loss against the GGUF model is rounding the scales to bfloat16.

This module imports torch at import time: import it only when building a generator.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

logger = logging.getLogger(__name__)

DEFAULT_GROUP_SIZE = 32
# The CPU kernel computes in bfloat16; its scales and zeros must be in the same dtype.
KERNEL_DTYPE = torch.bfloat16
_CODE_MAX = 15
_CODE_MID = 8


def _check_group_size(in_features: int, group_size: int, name: str) -> None:
    if group_size not in (32, 64, 128, 256) or in_features % group_size:
        raise ValueError(
            f"group_size={group_size} does not fit {name} ({in_features} input "
            f"features): use 32, 64, 128 or 256 dividing {in_features}."
        )


def quantize_groups(
    weight: torch.Tensor, group_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric 4-bit codes of ``weight`` (out, in), per group of input features.

    Returns ``codes`` (out, in) int32 in [0, 15], ``scale`` and ``minimum``
    (out, in // group_size) float32, with ``weight ~= codes * scale + minimum``.
    """
    out_features, in_features = weight.shape
    groups = weight.detach().float().reshape(out_features, -1, group_size)
    minimum = groups.amin(dim=-1)
    maximum = groups.amax(dim=-1)
    scale = ((maximum - minimum) / _CODE_MAX).clamp(min=1e-10)
    codes = ((groups - minimum[..., None]) / scale[..., None]).round()
    codes = codes.clamp(0, _CODE_MAX).to(torch.int32)
    return codes.reshape(out_features, in_features), scale, minimum


class Int4Linear(nn.Module):
    """``nn.Linear`` with group-wise int4 weights, computed by the CPU int4 kernel."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        group_size: int,
        packed: torch.Tensor,
        scales_and_zeros: torch.Tensor,
        bias: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.group_size = group_size
        # packed: (out, in // 2) uint8, two 4-bit codes per byte, in the kernel's layout
        self.register_buffer("packed", packed)
        # scales_and_zeros: (in // group_size, out, 2) bfloat16
        self.register_buffer("scales_and_zeros", scales_and_zeros)
        self.register_buffer("bias", bias)

    @classmethod
    def from_weight(
        cls,
        weight: torch.Tensor,
        bias: torch.Tensor | None = None,
        group_size: int = DEFAULT_GROUP_SIZE,
        name: str = "weight",
    ) -> Int4Linear:
        out_features, in_features = weight.shape
        _check_group_size(in_features, group_size, name)
        codes, scale, minimum = quantize_groups(weight, group_size)
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 2)
        # The kernel dequantizes as (code - 8) * scale + zero.
        zero = minimum + _CODE_MID * scale
        scales_and_zeros = torch.stack([scale, zero], dim=-1).transpose(0, 1)
        return cls(
            in_features,
            out_features,
            group_size,
            packed,
            scales_and_zeros.contiguous().to(KERNEL_DTYPE),
            None if bias is None else bias.detach().clone(),
        )

    @classmethod
    def from_linear(
        cls, linear: nn.Linear, group_size: int = DEFAULT_GROUP_SIZE, name: str = ""
    ) -> Int4Linear:
        return cls.from_weight(linear.weight, linear.bias, group_size, name or "linear")

    def dequantized_weight(self) -> torch.Tensor:
        """The float32 (out, in) weight this layer computes with (for tests)."""
        eye = torch.eye(self.in_features, dtype=KERNEL_DTYPE)
        columns = torch.ops.aten._weight_int4pack_mm_for_cpu(
            eye, self.packed, self.group_size, self.scales_and_zeros
        )
        return columns.float().T.contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).to(KERNEL_DTYPE)
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(
            rows, self.packed, self.group_size, self.scales_and_zeros
        )
        y = y.reshape(*x.shape[:-1], self.out_features).to(x.dtype)
        if self.bias is not None:
            y = y + self.bias.to(y.dtype)
        return y

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"group_size={self.group_size}, bits=4"
        )


class Int4Embedding(nn.Module):
    """``nn.Embedding`` with group-wise int4 rows; only looked-up rows are unpacked."""

    def __init__(self, weight: torch.Tensor, group_size: int = DEFAULT_GROUP_SIZE):
        super().__init__()
        num_embeddings, embedding_dim = weight.shape
        _check_group_size(embedding_dim, group_size, "embedding")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.group_size = group_size
        codes, scale, minimum = quantize_groups(weight, group_size)
        codes = codes.to(torch.uint8)
        # packed: (vocab, dim // 2) uint8, even features in the low nibble
        self.register_buffer("packed", codes[:, 0::2] | (codes[:, 1::2] << 4))
        # scale, minimum: (vocab, dim // group_size) bfloat16
        self.register_buffer("scale", scale.to(KERNEL_DTYPE))
        self.register_buffer("minimum", minimum.to(KERNEL_DTYPE))
        self.output_dtype = weight.dtype

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        packed = self.packed[input_ids]
        # codes: (*ids, dim // group_size, group_size)
        codes = torch.stack([packed & 0xF, packed >> 4], dim=-1)
        codes = codes.reshape(*input_ids.shape, -1, self.group_size)
        scale = self.scale[input_ids].float()[..., None]
        minimum = self.minimum[input_ids].float()[..., None]
        rows = codes.float() * scale + minimum
        return rows.reshape(*input_ids.shape, self.embedding_dim).to(self.output_dtype)

    def extra_repr(self) -> str:
        return (
            f"{self.num_embeddings}, {self.embedding_dim}, "
            f"group_size={self.group_size}, bits=4"
        )


def quantize_model_int4(
    model: nn.Module, group_size: int = DEFAULT_GROUP_SIZE
) -> dict[str, int]:
    """Replace every ``nn.Linear`` and the input embedding of ``model`` in place.

    A tied ``lm_head`` gets its own int4 copy of the embedding matrix (the kernel's
    packed layout cannot be indexed by row). Returns the bytes held by the int4
    modules and by the remaining float parameters, for the description and the bench.
    """
    embeddings = model.get_input_embeddings()
    replacements: list[tuple[nn.Module, str, nn.Module]] = []
    for parent_name, parent in model.named_modules():
        for child_name, child in parent.named_children():
            full_name = f"{parent_name}.{child_name}".lstrip(".")
            if isinstance(child, nn.Linear):
                new = Int4Linear.from_linear(child, group_size, full_name)
                replacements.append((parent, child_name, new))
            elif child is embeddings:
                new = Int4Embedding(child.weight, group_size)
                replacements.append((parent, child_name, new))
    for parent, child_name, new in replacements:
        setattr(parent, child_name, new)
    # The float tensors left (norm weights) may be views into the memory-mapped
    # checkpoint file; owning copies let the whole mapping go (about 540 MB of RSS).
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.data = parameter.data.clone()
    if getattr(model.config, "tie_word_embeddings", False):
        # The two copies are now separate modules; keep anything from re-tying them.
        model.config.tie_word_embeddings = False
    logger.info(
        "Quantized %d modules of %s to int4 (group %d)",
        len(replacements),
        type(model).__name__,
        group_size,
    )
    return memory_footprint(model)


def memory_footprint(model: nn.Module) -> dict[str, int]:
    """Bytes of packed int4 buffers and of all other parameters and buffers."""
    int4_bytes = 0
    other_bytes = 0
    seen: set[int] = set()
    for module in model.modules():
        tensors = list(module.named_parameters(recurse=False))
        tensors += list(module.named_buffers(recurse=False))
        for _, tensor in tensors:
            if tensor is None or id(tensor) in seen:
                continue
            seen.add(id(tensor))
            size = tensor.numel() * tensor.element_size()
            if isinstance(module, Int4Linear | Int4Embedding):
                int4_bytes += size
            else:
                other_bytes += size
    return {"int4_bytes": int4_bytes, "other_bytes": other_bytes}
