"""Generation speed of the default 4-bit generator against NF4 and plain fp32, on CPU.

Run from the repository root:

    .venv/bin/python bench/bench_generation.py [--repeats 3] [--threads N]
        [--max-new-tokens 48] [--paths int4,nf4,fp32,fp32-generate]

Every path samples 8 candidates for the same push-notification prompt, with the same
seed, through ``Generator.generate``'s decoding loop (``fp32-generate``: the fp32
model through transformers' ``model.generate`` with the same sampling settings). End-of-turn is suppressed so
every candidate is exactly ``--max-new-tokens`` long: tokens/s counts 8 x that many
tokens per call. All paths are loaded in this one process and measured interleaved
(path order rotates every repeat), after one warm-up call each, so noise from other
processes hits them alike; the last line is the ratio of the default 4-bit path's
tokens/s to fp32's (median over repeats).

Memory, three figures per path, all read from /proc/self/statm (no psutil, no
tracemalloc): ``weights`` is the bytes of the model's parameters and buffers;
``resident`` is the growth of the process's resident memory from before loading the
path to after its warm-up call; ``call peak`` is the largest resident growth seen
during any one call (a thread samples every 2 ms). The warm-up call dominates it: it
touches the pages of a memory-mapped fp32 checkpoint for the first time, and later
calls reuse memory the allocator already holds.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pushgen_core.config import Settings  # noqa: E402  (after the path fix)
from pushgen_core.llm import load_generator  # noqa: E402  (before torch: OMP policy)

PATHS = {"int4": "auto", "nf4": "nf4", "fp32": "none", "fp32-generate": "none"}
CANDIDATES = 8
LEDE = (
    "A town of 4,000 people on Norway's west coast cut the electricity its street "
    "lights use by a third in one winter, after swapping timers for motion sensors "
    "that dim each lamp until someone walks, cycles or drives past."
)
MESSAGES = [
    {
        "role": "system",
        "content": "You write push notifications for a news app. Reply with the "
        "notification only: a title line and a body line, under 120 characters.",
    },
    {"role": "user", "content": f"Write a push notification for this story: {LEDE}"},
]


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Highest RSS above the starting level, sampled by a thread every 2 ms."""

    def __enter__(self) -> PeakRss:
        self.start = rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def delta(self) -> int:
        return self.peak - self.start


def hf_generate(generator, max_new_tokens: int, seed: int):
    """The same sampling through transformers' ``model.generate``, for reference."""
    import torch

    prompt = generator.render_prompt(MESSAGES)
    ids = generator.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    torch.manual_seed(seed)
    output = generator.model.generate(
        **ids,
        do_sample=True,
        temperature=0.9,
        top_p=0.95,
        top_k=50,
        num_return_sequences=CANDIDATES,
        max_new_tokens=max_new_tokens,
        min_new_tokens=max_new_tokens,
        pad_token_id=generator.tokenizer.pad_token_id,
    )
    return output[:, ids.input_ids.shape[1] :]


def weight_bytes(model) -> int:
    tensors = {id(t): t for t in model.parameters()}
    tensors.update({id(t): t for t in model.buffers()})
    return sum(t.numel() * t.element_size() for t in tensors.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument(
        "--paths", default="int4,nf4,fp32,fp32-generate", help="comma-separated"
    )
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        parser.error(f"unknown path(s) {unknown}: choose from {', '.join(PATHS)}")
    if args.threads:
        os.environ["PUSHGEN_THREADS"] = str(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cache_dir = args.cache_dir or Settings.from_env().cache_dir

    import torch

    def run(path: str, seed: int) -> tuple[float, int]:
        generator = generators[path]
        with PeakRss() as peak:
            started = time.perf_counter()
            if path == "fp32-generate":
                tokens = hf_generate(generator, args.max_new_tokens, seed)
            else:
                tokens = generator.sample_tokens(
                    MESSAGES,
                    CANDIDATES,
                    args.max_new_tokens,
                    temperature=0.9,
                    top_p=0.95,
                    seed=seed,
                    min_new_tokens=args.max_new_tokens,
                )
            seconds = time.perf_counter() - started
        memory[path]["peak"] = max(memory[path].get("peak", 0), peak.delta)
        return seconds, tokens.numel()

    # Loading (each path warmed up once right after it loads)
    generators = {}
    memory = {}
    for path in paths:
        settings = Settings(cache_dir=cache_dir, quantization=PATHS[path], device="cpu")
        gc.collect()
        before = rss_bytes()
        if path == "fp32-generate" and "fp32" in generators:
            generators[path] = generators["fp32"]  # same model, other decoding loop
        else:
            generators[path] = load_generator(settings)
        memory[path] = {"weights": weight_bytes(generators[path].model)}
        run(path, seed=0)  # warm-up
        gc.collect()
        memory[path]["resident"] = rss_bytes() - before
    print(
        f"threads={torch.get_num_threads()} "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')} "
        f"torch={torch.__version__} cpu={torch.backends.cpu.get_cpu_capability()}"
    )
    print(
        f"prompt: {len(generators[paths[0]].render_prompt(MESSAGES))} chars; "
        f"{CANDIDATES} candidates x {args.max_new_tokens} new tokens (EOS suppressed)"
    )

    # Interleaved repeats
    seconds: dict[str, list[float]] = {path: [] for path in paths}
    tokens_per_call = CANDIDATES * args.max_new_tokens
    for repeat in range(args.repeats):
        order = paths[repeat % len(paths) :] + paths[: repeat % len(paths)]
        for path in order:
            elapsed, count = run(path, seed=repeat + 1)
            assert count == tokens_per_call, (count, tokens_per_call)
            seconds[path].append(elapsed)

    # Report
    mib = 1 << 20
    header = (
        f"{'path':<60} {'tok/s':>7} {'cand/s':>7} {'s/call':>7} "
        f"{'weights':>8} {'resident':>9} {'call peak':>9}"
    )
    print(header)
    rates = {}
    for path in paths:
        median = statistics.median(seconds[path])
        rates[path] = tokens_per_call / median
        print(
            f"{path + ': ' + generators[path].description:<60} {rates[path]:>7.1f} "
            f"{CANDIDATES / median:>7.2f} {median:>7.2f} "
            f"{memory[path]['weights'] / mib:>6.0f}MB {memory[path]['resident'] / mib:>7.0f}MB "
            f"{memory[path]['peak'] / mib:>7.0f}MB"
        )
    print(
        "per-repeat s/call: "
        + "; ".join(f"{p} " + ",".join(f"{s:.2f}" for s in seconds[p]) for p in paths)
    )
    if "int4" in rates and "fp32" in rates:
        if "fp32-generate" in rates:
            print(
                "ratio 4-bit default / fp32 via model.generate tokens/s: "
                f"{rates['int4'] / rates['fp32-generate']:.2f}"
            )
        print(
            f"ratio 4-bit default ({generators['int4'].description}) / fp32 tokens/s: "
            f"{rates['int4'] / rates['fp32']:.2f}"
        )


if __name__ == "__main__":
    main()
