"""Turn a reviewer's action on a card into a stored label."""

from __future__ import annotations

from pushgen_core.errors import InputError
from pushgen_core.filters import check_text
from pushgen_core.pipeline import Candidate, Catalog, GenerationResult
from pushgen_core.store import Label, LabelInput, LabelStore


def decide(
    store: LabelStore,
    result: GenerationResult,
    candidate: Candidate,
    decision: str,
    reviewer: str,
    catalog: Catalog,
    *,
    reject_reasons: tuple[str, ...] = (),
    edited_title: str | None = None,
    edited_body: str | None = None,
) -> tuple[Label, bool]:
    """Record accept, reject or edit-then-accept; the original text is kept on edits.

    An edit must pass the same checks as generated candidates
    (channel limits, banned terms), so labels never teach the reward model that an
    over-long or banned text wins.
    """
    title, body = candidate.title, candidate.body
    original_title = original_body = None
    if decision == "edited":
        title = (edited_title or "").strip()
        body = (edited_body or "").strip()
        original_title, original_body = candidate.title, candidate.body
        channel = catalog.channel(result.brief.channel)
        reason = check_text(title, body, channel, catalog.banned_terms)
        if reason:
            raise InputError(
                f"The edited text fails a check ({reason}). Fix the text, or reject "
                "the candidate instead."
            )
    return store.record(
        LabelInput(
            candidate_id=candidate.candidate_id,
            brief_id=result.brief_id,
            item_id=result.brief.item_id,
            decision=decision,
            title=title,
            body=body,
            original_title=original_title,
            original_body=original_body,
            reject_reasons=tuple(reject_reasons) if decision == "rejected" else (),
            category=result.brief.category,
            style=candidate.style,
            channel=result.brief.channel,
            item_text=result.brief.description,
            prompt=candidate.prompt,
            generator_model=result.generator_model,
            reward_version=result.reward_version,
            score=candidate.score,
            rank=candidate.rank,
            reviewer=reviewer,
        )
    )
