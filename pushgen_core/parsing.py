"""Turn what the model wrote into a candidate's title and body.

Small models rarely follow a format exactly: they add "Sure! Here's…", wrap lines in
quotes or markdown, label fields in other words, leak chat tokens, or skip the title.
``parse_candidate`` accepts all of these and never raises: the worst case is an empty
title and body, which the filters then report as "empty".
"""

from __future__ import annotations

import re

MAX_LINE_CHARS = 1000
_TURN_START = re.compile(r"^\s*<\|im_start\|>\s*(?:assistant|user|system)?\s*")
_END_OF_TURN = re.compile(r"<\|im_end\|>|<\|endoftext\|>|<\|im_start\|>|</s>")
_CHAT_ARTIFACT = re.compile(
    r"<\|[^|>]*\|>|</?s>|\[/?INST\]|^\s*(assistant|user|system)\s*:?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_PREAMBLE = re.compile(
    r"^\s*(sure|okay|ok|certainly|of course|here(?:'s| is| are))\b[^\n]*?"
    r"(notification|push|message|one|it|:)[^\n]*\n",
    re.IGNORECASE,
)
# Matched against a stripped line without its bullet, so no two quantifiers overlap
_LABEL = re.compile(
    r"^[*_]*(title|headline|heading|subject|body|message|text|content|description|"
    r"notification|push)[*_]* ?[:：\-–][*_]* *(.*)$",
    re.IGNORECASE,
)
_TITLE_LABELS = {"title", "headline", "heading", "subject"}
_QUOTES = "\"'“”‘’«»「」『』`"
_BULLET = re.compile(r"^\s*(?:[-*•>]+|\d+[.)])\s+")
# The last sentence end followed only by words without one: "Done. And then the"
_LAST_SENTENCE_END = re.compile(r"[.!?。！？…][\"'”’)]*(?=\s+[^.!?。！？…]*$)")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def _clean_line(line: str) -> str:
    line = _BULLET.sub("", line).strip()
    line = line.strip("*_ ").strip()
    while len(line) >= 2 and line[0] in _QUOTES and line[-1] in _QUOTES:
        line = line[1:-1].strip()
    if line and line[0] in _QUOTES and line.count(line[0]) == 1:
        line = line[1:].strip()
    if line and line[-1] in _QUOTES and line.count(line[-1]) == 1:
        line = line[:-1].strip()
    return " ".join(line.split())


def drop_cut_off_sentence(body: str) -> str:
    """The body without a trailing unfinished sentence, when a finished one precedes
    it: generation stops at a token limit, often mid-sentence."""
    match = _LAST_SENTENCE_END.search(body)
    if match and match.end() < len(body):
        return body[: match.end()].rstrip()
    return body


def parse_candidate(raw: str) -> tuple[str, str]:
    """``(title, body)`` from one model completion; either may be empty."""
    title, body = _parse(raw)
    return title, drop_cut_off_sentence(body)


def _parse(raw: str) -> tuple[str, str]:
    text = _TURN_START.sub("", raw or "", count=1)
    text = _END_OF_TURN.split(text, maxsplit=1)[0]
    text = _CHAT_ARTIFACT.sub("", text)
    text = _PREAMBLE.sub("", text, count=1)

    # Labelled fields: "Title: …" / "Body: …" in any common spelling
    title, body, loose = "", "", []
    current = None
    for line in text.splitlines():
        line = _BULLET.sub("", line.strip()[:MAX_LINE_CHARS])
        match = _LABEL.match(line)
        if match:
            field, value = match.group(1).lower(), _clean_line(match.group(2))
            current = "title" if field in _TITLE_LABELS else "body"
            if current == "title" and not title:
                title = value
            elif current == "body" and not body:
                body = value
            continue
        value = _clean_line(line)
        if not value:
            continue
        if current == "title" and not title:
            title = value  # the label stood alone on its line
        elif current == "body" and not body:
            body = value
        elif current == "body":
            current = None  # small models run on after the body: keep its first line
            loose.append(value)
        else:
            loose.append(value)
    if title or body:
        if not body and loose:
            body = loose[0]
        return title, body

    # No labels: first line is the title, the rest the body; one line is split
    if len(loose) >= 2:
        return loose[0], " ".join(loose[1:])
    if loose:
        parts = _SENTENCE_END.split(loose[0], maxsplit=1)
        if len(parts) == 2:
            return parts[0], parts[1]
        return "", loose[0]
    return "", ""
