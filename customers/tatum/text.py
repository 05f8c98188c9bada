"""Text as Tatum measures it: the one length count and the one control-character rule for every text
the dashboard sends (ids in paths, external ids and other fields in bodies).

Tatum validates with class-validator, which measures a string with validator.js's `isLength`: code
points (a surrogate pair is one character), not counting the emoji presentation selectors U+FE0E
and U+FE0F. So "\ufe0f" alone is 0 characters long, and "a\ufe0f" is 1.
"""

from __future__ import annotations

import unicodedata

_PRESENTATION_SELECTORS = ("\ufe0e", "\ufe0f")
# Control characters, and lone surrogates (which no UTF-8 path or JSON text can carry as they are).
_CONTROL_CATEGORIES = frozenset({"Cc", "Cs"})


def tatum_length(value: str) -> int:
    """The length Tatum checks `value` against: code points, less the emoji presentation selectors."""
    return len(value) - sum(value.count(selector) for selector in _PRESENTATION_SELECTORS)


def has_control_characters(value: str) -> bool:
    """Whether `value` holds a control character (a tab, a line break, NUL...) or a lone surrogate."""
    return any(unicodedata.category(char) in _CONTROL_CATEGORIES for char in value)
