"""One brief in, ranked candidates out: prompt, generate, parse, filter, score, rank.

The app and the batch job both call ``Pipeline.run``. Candidates that fail a check are
returned in ``GenerationResult.filtered`` with their reason; ranking never removes the
need for a human reviewer (the reward model can be gamed by clickbait or invented
facts), so every ranked card still goes to review.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from pushgen_core.config import Settings
from pushgen_core.errors import InputError
from pushgen_core.filters import check_candidates
from pushgen_core.parsing import parse_candidate
from pushgen_core.prompt import Brief, build_messages
from pushgen_core.taxonomy import (
    ChannelProfile,
    Taxonomy,
    load_banned_terms,
    load_channels,
    load_taxonomy,
)
from pushgen_core.text import reward_text

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]


class CandidateGenerator(Protocol):
    description: str

    def render_prompt(self, messages: list[dict[str, str]]) -> str: ...

    def generate(
        self,
        messages: list[dict[str, str]],
        n: int = 8,
        max_new_tokens: int = 48,
        temperature: float = 0.9,
        top_p: float = 0.95,
        seed: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[str]: ...


class CandidateScorer(Protocol):
    version: str

    def score(self, texts: list[str]) -> np.ndarray: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class Candidate:
    """One generated push notification and what happened to it."""

    candidate_id: str
    brief_id: str
    style: str
    title: str
    body: str
    raw: str
    prompt: str
    score: float | None = None
    rank: int | None = None
    filtered_reason: str = ""

    @property
    def text(self) -> str:
        return reward_text(self.title, self.body)


@dataclass
class GenerationResult:
    brief: Brief
    brief_id: str
    prompts: dict[str, str]
    ranked: list[Candidate]
    filtered: list[Candidate]
    generator_model: str
    reward_version: str
    warnings: list[str] = field(default_factory=list)
    diversity: float = 0.3


@dataclass(frozen=True)
class GenerationOptions:
    """How to sample and rank. While fewer than ``min_ranked`` candidates pass the
    checks, another batch per style is written, up to ``max_rounds`` batches."""

    candidates_per_style: int = 8
    max_new_tokens: int = 48
    temperature: float = 0.9
    top_p: float = 0.95
    seed: int | None = None
    diversity: float = 0.3
    min_ranked: int = 8
    max_rounds: int = 3

    def validate(self) -> None:
        if not 1 <= self.candidates_per_style <= 64:
            raise InputError("Candidates per style must be between 1 and 64.")
        if not 8 <= self.max_new_tokens <= 256:
            raise InputError("Max new tokens must be between 8 and 256.")
        if not 0.0 < self.temperature <= 2.0:
            raise InputError("Temperature must be above 0 and at most 2.")
        if not 0.0 < self.top_p <= 1.0:
            raise InputError("top_p must be above 0 and at most 1.")
        if not 0.0 <= self.diversity <= 1.0:
            raise InputError("Diversity must be between 0 (score only) and 1.")
        if self.min_ranked < 0 or not 1 <= self.max_rounds <= 10:
            raise InputError(
                "min_ranked must be 0 or more and max_rounds between 1 and 10."
            )


@dataclass(frozen=True)
class Catalog:
    """The editable data the pipeline checks briefs against."""

    taxonomy: Taxonomy
    channels: dict[str, ChannelProfile]
    banned_terms: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalog:
        return cls(
            taxonomy=load_taxonomy(settings.taxonomy_path),
            channels=load_channels(settings.channels_path),
            banned_terms=load_banned_terms(settings.banned_terms_path),
        )

    def channel(self, channel_id: str) -> ChannelProfile:
        try:
            return self.channels[channel_id]
        except KeyError:
            raise InputError(
                f"Unknown channel '{channel_id}'. Choose one of: "
                f"{', '.join(self.channels)}."
            ) from None


def rank_order(
    scores: np.ndarray, embeddings: np.ndarray | None, diversity: float
) -> list[int]:
    """Indices best first: by score, or by maximal marginal relevance if diverse."""
    if diversity <= 0 or embeddings is None or len(scores) < 2:
        return [int(i) for i in np.argsort(-scores, kind="stable")]
    from pushgen_core.reward.diversity import select_diverse

    return select_diverse(scores, embeddings, k=len(scores), diversity=diversity)


class Pipeline:
    def __init__(
        self,
        generator: CandidateGenerator,
        scorer: CandidateScorer,
        catalog: Catalog,
    ):
        self.generator = generator
        self.scorer = scorer
        self.catalog = catalog

    def prompts_for(self, brief: Brief) -> dict[str, str]:
        """The exact prompt text per style, as the model will see it."""
        return {
            style_id: self.generator.render_prompt(messages)
            for style_id, messages in self._messages(brief).items()
        }

    def _messages(self, brief: Brief) -> dict[str, list[dict[str, str]]]:
        if not brief.styles:
            raise InputError("Pick at least one copy style.")
        category = self.catalog.taxonomy.category(brief.category)
        channel = self.catalog.channel(brief.channel)
        return {
            style_id: build_messages(
                brief, category, self.catalog.taxonomy.style(style_id), channel
            )
            for style_id in dict.fromkeys(brief.styles)
        }

    def rank(self, candidates: list[Candidate], diversity: float) -> list[Candidate]:
        """Score ``candidates`` with the current reward model and order them."""
        if not candidates:
            return []
        texts = [candidate.text for candidate in candidates]
        scores = np.asarray(self.scorer.score(texts), dtype=float)
        embeddings = self.scorer.embed(texts) if diversity > 0 else None
        for candidate, score in zip(candidates, scores, strict=True):
            candidate.score = float(score)
        ranked = []
        for rank, index in enumerate(
            rank_order(scores, embeddings, diversity), start=1
        ):
            candidates[index].rank = rank
            ranked.append(candidates[index])
        return ranked

    def rescore(self, result: GenerationResult, diversity: float) -> GenerationResult:
        """The same candidates ranked by the current reward model version."""
        ranked = self.rank([replace(c) for c in result.ranked], diversity)
        return replace(result, ranked=ranked, reward_version=self.scorer.version)

    def _example_texts(self, styles: tuple[str, ...]) -> tuple[str, ...]:
        texts = []
        for style_id in styles:
            for example in self.catalog.taxonomy.style(style_id).examples:
                texts += [example.title, example.body]
        return tuple(texts)

    def _generate_round(
        self,
        brief_id: str,
        messages_by_style: dict[str, list[dict[str, str]]],
        prompts: dict[str, str],
        options: GenerationOptions,
        round_index: int,
        report: ProgressCallback,
    ) -> list[Candidate]:
        """One batch of sampled candidates per style."""
        styles = list(messages_by_style)
        candidates = []
        for style_index, style_id in enumerate(styles):

            def on_step(
                step: int, total: int, index: int = style_index, name: str = style_id
            ) -> None:
                done = (index + step / max(total, 1)) / len(styles)
                overall = (round_index + done) / options.max_rounds
                report(0.9 * overall, f"Writing {name} candidates ({step}/{total})")

            seed = None
            if options.seed is not None:
                seed = options.seed + round_index * len(styles) + style_index
            completions = self.generator.generate(
                messages_by_style[style_id],
                n=options.candidates_per_style,
                max_new_tokens=options.max_new_tokens,
                temperature=options.temperature,
                top_p=options.top_p,
                seed=seed,
                on_progress=on_step,
            )
            for raw in completions:
                title, body = parse_candidate(raw)
                candidates.append(
                    Candidate(
                        candidate_id=uuid.uuid4().hex,
                        brief_id=brief_id,
                        style=style_id,
                        title=title,
                        body=body,
                        raw=raw,
                        prompt=prompts[style_id],
                    )
                )
        return candidates

    def run(
        self,
        brief: Brief,
        options: GenerationOptions | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> GenerationResult:
        options = options or GenerationOptions()
        options.validate()
        messages_by_style = self._messages(brief)
        brief_id = brief.brief_id or uuid.uuid4().hex
        report = on_progress or (lambda fraction, message: None)

        prompts = {
            style_id: self.generator.render_prompt(messages)
            for style_id, messages in messages_by_style.items()
        }
        channel = self.catalog.channel(brief.channel)
        examples = self._example_texts(brief.styles)

        # Generate, filter, and write more while too few pass the checks
        candidates: list[Candidate] = []
        for round_index in range(options.max_rounds):
            candidates += self._generate_round(
                brief_id, messages_by_style, prompts, options, round_index, report
            )
            verdicts = check_candidates(
                [(c.title, c.body) for c in candidates],
                channel,
                self.catalog.banned_terms,
                examples,
            )
            for candidate, verdict in zip(candidates, verdicts, strict=True):
                candidate.filtered_reason = verdict.reason
            passed = [c for c in candidates if not c.filtered_reason]
            if len(passed) >= options.min_ranked:
                break
            if round_index + 1 < options.max_rounds:
                logger.info(
                    "Only %d of %d candidates passed the checks; writing more",
                    len(passed),
                    len(candidates),
                )
        filtered = [c for c in candidates if c.filtered_reason]

        # Score and rank
        report(0.95, "Scoring with the reward model")
        ranked = self.rank(passed, options.diversity)
        warnings = []
        if not ranked:
            warnings.append(
                "Every candidate was filtered out. Shorten the item text, loosen the "
                "channel limits or generate again."
            )
        elif len(ranked) < options.min_ranked:
            warnings.append(
                f"Only {len(ranked)} of {len(candidates)} candidates passed the checks "
                f"after {options.max_rounds} batches (see the filtered list). Generate "
                "again, or add styles, for more."
            )
        report(1.0, f"{len(ranked)} ranked, {len(filtered)} filtered")
        logger.info(
            "Brief %s: %d ranked, %d filtered", brief_id, len(ranked), len(filtered)
        )
        return GenerationResult(
            brief=brief,
            brief_id=brief_id,
            prompts=prompts,
            ranked=ranked,
            filtered=filtered,
            generator_model=self.generator.description,
            reward_version=self.scorer.version,
            warnings=warnings,
            diversity=options.diversity,
        )
