"""Telegram's HTML parse mode, checked as strictly as the Bot API does, for the fake server.

Rules (Bot API "HTML style"): only the supported tags; every `<`, `>` and `&` that is not part of a
tag or an entity must be escaped; named entities `&lt; &gt; &amp; &quot;` and numeric ones are
accepted; tags must be closed in order.
"""

from __future__ import annotations

import re

SUPPORTED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "tg-emoji",
    "code",
    "pre",
    "blockquote",
}
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TOKEN = re.compile(
    r"<(?P<close>/)?(?P<tag>[a-zA-Z][a-zA-Z0-9-]*)(?P<attrs>(?:\s+[^<>]*)?)>"
    r"|&(?:#(?P<dec>[0-9]{1,7})|#[xX](?P<hex>[0-9a-fA-F]{1,6})|(?P<name>[a-zA-Z]+));"
    r"|(?P<bad>[<>&])"
)


def check_html(text: str) -> tuple[str, str | None]:
    """Parse `text` as Telegram HTML.

    Returns:
        (the plain text the user would see, None) or ("", the reason Telegram would give).
    """
    plain: list[str] = []
    stack: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        plain.append(text[pos : match.start()])
        pos = match.end()
        offset = len(text[: match.start()].encode())
        if match.group("bad"):
            if match.group("bad") == ">":  # Telegram tolerates a bare '>'
                plain.append(">")
                continue
            return (
                "",
                f"Unsupported start tag or stray character {match.group('bad')!r} at byte offset {offset}",
            )
        if match.group("tag"):
            tag = match.group("tag").lower()
            if tag not in SUPPORTED_TAGS:
                return "", f'Unsupported start tag "{tag}" at byte offset {offset}'
            if match.group("close"):
                if not stack or stack[-1] != tag:
                    return "", f"Unexpected end tag at byte offset {offset}"
                stack.pop()
            else:
                stack.append(tag)
            continue
        if match.group("name"):
            name = match.group("name")
            if name not in NAMED_ENTITIES:
                return "", f'Unsupported character entity "&{name};" at byte offset {offset}'
            plain.append(NAMED_ENTITIES[name])
        else:
            code = int(match.group("dec")) if match.group("dec") else int(match.group("hex"), 16)
            if code > 0x10FFFF:
                return "", f"Invalid character entity at byte offset {offset}"
            plain.append(chr(code))
    plain.append(text[pos:])
    if stack:
        return "", f'Can\'t find end tag corresponding to start tag "{stack[-1]}"'
    return "".join(plain), None
