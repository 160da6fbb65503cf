"""The controllable category prompt: item facts + category + style + channel limits.

Following the PushGen method, the prompt grounds the model in the item's own facts,
then steers it with one category instruction and one style instruction (with a few
example notifications of that style), and states the channel's length limits. One
prompt is built per (brief, style); the app shows it verbatim.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, field

from pushgen_core.errors import InputError
from pushgen_core.taxonomy import Category, ChannelProfile, Style

logger = logging.getLogger(__name__)

MAX_FACTS_CHARS = 1500
_TAG = re.compile(r"<[^>]+>")

SYSTEM_PROMPT = (
    "You write push notifications for a mobile app. A notification has a short "
    "title and a one-sentence body. Use only facts from the item. No hashtags, "
    "no emoji spam, no clickbait that the item does not support."
)


@dataclass(frozen=True)
class Brief:
    """What the copywriter asks for: one item, one category, one or more styles."""

    description: str
    category: str
    styles: tuple[str, ...]
    channel: str = "android"
    item_id: str = ""
    brief_id: str = field(default="", compare=False)


def item_facts(description: str) -> str:
    """The item text as the model sees it: HTML removed, whitespace collapsed, capped.

    Raises InputError when nothing is left to write about.
    """
    text = html.unescape(_TAG.sub(" ", description or ""))
    text = " ".join(text.split())
    if not text:
        raise InputError(
            "The item description is empty. Paste the article's lede, the video's "
            "synopsis or the product's description."
        )
    if len(text) > MAX_FACTS_CHARS:
        logger.info(
            "Item description cut from %d to %d characters for the prompt; "
            "put the key facts first to keep them.",
            len(text),
            MAX_FACTS_CHARS,
        )
        cut = text[:MAX_FACTS_CHARS]
        text = cut[: cut.rfind(" ")] if " " in cut else cut
    return text


def build_messages(
    brief: Brief, category: Category, style: Style, channel: ChannelProfile
) -> list[dict[str, str]]:
    """Chat messages for one (brief, style): system rules, then the steered request."""
    facts = item_facts(brief.description)

    # Examples of the style, in the exact output format we parse
    examples = "\n\n".join(
        f"Title: {example.title}\nBody: {example.body}" for example in style.examples
    )
    example_block = f"Examples of this style:\n\n{examples}\n\n" if examples else ""

    # The request: facts first, then category, style and limits
    request = (
        f"Item:\n{facts}\n\n"
        f"Category: {category.name}. {category.instruction}\n"
        f"Style: {style.name}. {style.instruction}\n"
        f"Limits: title at most {channel.title_max} characters, body at most "
        f"{channel.body_max} characters.\n\n"
        f"{example_block}"
        "Write one new push notification about the item, in this format:\n"
        "Title: ...\nBody: ..."
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": request},
    ]
