"""Text Attest accepts: no C0 control except tab, line feed and return; no DEL; no lone surrogate.

The rule is one set of characters, refused wherever text enters or is stored:
- C0 controls U+0000-U+001F except tab (U+0009), line feed (U+000A) and carriage
  return (U+000D). PostgreSQL cannot store U+0000 at all while SQLite can, so
  refusing it is what makes both databases agree; the rest break XML/OSCAL exports,
  CSV and terminals and are never typed on purpose.
- DEL (U+007F): invisible, never meaningful in a sentence.
- Lone surrogates U+D800-U+DFFF (reachable through JSON "\\ud800" escapes): not
  encodable as UTF-8, so neither database driver can send them (a 500 on both).

C1 controls (U+0080-U+009F) are accepted: both databases store them alike, and they
arise legitimately where HTTP header values are decoded as Latin-1 (Starlette does):
a User-Agent with a UTF-8 "€" carries U+0082, and refusing it stopped sign-in.

Refused, not stripped: silently changing what someone submitted as evidence of
their security posture would be worse than asking them to remove it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

# The longest free text Attest keeps in one field (statements, justifications, descriptions).
MAX_TEXT = 10_000
REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def first_refused(text: str) -> str | None:
    """The first refused character of `text`, or None when the text is acceptable."""
    found = REFUSED.search(text)
    return found.group() if found else None


def refused_in(value: Any, field: str) -> tuple[str, str] | None:
    """(field path, character) of the first refused character in a str, or nested in
    mappings (keys and values) and lists, e.g. ("contacts.0.name", "\\x00")."""
    for path, text in _strings(value, field):
        char = first_refused(text)
        if char is not None:
            return path, char
    return None


def _strings(value: Any, field: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield field, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{field}.{key}" if field else str(key)
            if isinstance(key, str):
                yield path, key
            yield from _strings(item, path)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{field}.{index}" if field else str(index))


def describe(char: str) -> str:
    """U+0000 style name of a character."""
    return f"U+{ord(char):04X}"


def refusal_message(field: str, char: str) -> str:
    label = REFUSED.sub("?", field.replace("_", " ")) if field else "text"
    return (
        f"The {label} contains a control character ({describe(char)}). "
        "Remove it and try again: text may contain tabs and line breaks but no other control characters."
    )
