"""The CPU int4 weight path: Int4Linear, Int4Embedding, quantize_model_int4."""

import pytest

torch = pytest.importorskip("torch")

from pushgen_core.quant import (  # noqa: E402  (after the importorskip)
    Int4Embedding,
    Int4Linear,
    memory_footprint,
    quantize_groups,
    quantize_model_int4,
)


def relative_error(actual, expected):
    return ((actual.float() - expected.float()).norm() / expected.float().norm()).item()


class TestInt4Linear:
    @pytest.mark.parametrize("group_size", [32, 64])
    def test_matches_fp32_linear_on_random_weights(self, group_size):
        torch.manual_seed(0)
        linear = torch.nn.Linear(576, 192)
        layer = Int4Linear.from_linear(linear, group_size)
        x = torch.randn(2, 5, 576)
        # 4-bit min/max codes on Gaussian weights: about 6-8 % relative error.
        assert relative_error(layer(x), linear(x)) < 0.12
        assert layer(x).shape == (2, 5, 192)
        assert layer(x).dtype == torch.float32

    def test_computes_with_its_own_dequantized_weight(self):
        torch.manual_seed(1)
        linear = torch.nn.Linear(128, 64, bias=False)
        layer = Int4Linear.from_linear(linear, 32)
        x = torch.randn(8, 128)
        reference = torch.nn.functional.linear(x, layer.dequantized_weight())
        # Only the bf16 rounding of the activations and of the accumulation differs.
        assert relative_error(layer(x), reference) < 0.01

    def test_weights_on_a_q4_1_grid_come_back_exactly(self):
        # GGUF Q4_1 blocks: 32 codes spanning 0..15, one scale and one minimum each.
        torch.manual_seed(2)
        codes = torch.randint(0, 16, (64, 4, 32)).float()
        codes[..., 0], codes[..., 1] = 0, 15
        scale = torch.rand(64, 4, 1) * 0.01 + 0.001
        minimum = -torch.rand(64, 4, 1) * 0.1
        weight = (codes * scale + minimum).reshape(64, 128)
        layer = Int4Linear.from_weight(weight, group_size=32)
        # Left over: scale and zero rounded to bfloat16 (8 mantissa bits).
        assert relative_error(layer.dequantized_weight(), weight) < 0.01
        recovered, _, _ = quantize_groups(weight, 32)
        assert torch.equal(recovered.reshape(64, 4, 32).float(), codes)

    def test_weights_are_stored_in_four_bits(self):
        layer = Int4Linear.from_linear(torch.nn.Linear(576, 1536, bias=False), 32)
        assert layer.packed.dtype == torch.uint8
        assert layer.packed.numel() == 576 * 1536 // 2
        assert not any(p.dtype.is_floating_point for p in layer.parameters())

    def test_bias_is_added(self):
        torch.manual_seed(3)
        linear = torch.nn.Linear(64, 32)
        with torch.no_grad():
            linear.bias.fill_(5.0)
        layer = Int4Linear.from_linear(linear, 32)
        x = torch.randn(4, 64)
        assert relative_error(layer(x), linear(x)) < 0.05

    def test_group_size_must_divide_input_features(self):
        with pytest.raises(ValueError, match=r"group_size=64 does not fit .*96 input"):
            Int4Linear.from_linear(torch.nn.Linear(96, 32), 64)


class TestInt4Embedding:
    def test_matches_fp32_rows(self):
        torch.manual_seed(4)
        embedding = torch.nn.Embedding(300, 64)
        quantized = Int4Embedding(embedding.weight, 32)
        ids = torch.tensor([[0, 5, 299], [7, 7, 1]])
        assert quantized(ids).shape == (2, 3, 64)
        assert relative_error(quantized(ids), embedding(ids)) < 0.12
        assert quantized.packed.numel() == 300 * 64 // 2


class TestQuantizeModel:
    @pytest.fixture
    def tiny_llama(self):
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(5)
        config = LlamaConfig(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=256,
            tie_word_embeddings=True,
        )
        return LlamaForCausalLM(config).eval()

    def test_replaces_every_linear_and_the_embedding(self, tiny_llama):
        ids = torch.randint(0, 256, (2, 10))
        with torch.no_grad():
            expected = tiny_llama(input_ids=ids).logits
        footprint = quantize_model_int4(tiny_llama, 32)
        assert not any(isinstance(m, torch.nn.Linear) for m in tiny_llama.modules())
        assert isinstance(tiny_llama.get_input_embeddings(), Int4Embedding)
        assert isinstance(tiny_llama.lm_head, Int4Linear)
        assert tiny_llama.config.tie_word_embeddings is False
        with torch.no_grad():
            actual = tiny_llama(input_ids=ids).logits
        assert relative_error(actual, expected) < 0.2
        assert footprint == memory_footprint(tiny_llama)
        assert footprint["int4_bytes"] > 10 * footprint["other_bytes"]
