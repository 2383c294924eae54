"""The symbol rule: validated wherever a symbol enters, so no symbol can build a key outside the lake."""

import re

from ticklake_dagster.core.errors import InvalidInput

SYMBOL_PATTERN = r"^[A-Z0-9][A-Z0-9._-]{0,31}$"
_SYMBOL_RE = re.compile(SYMBOL_PATTERN)


def is_valid_symbol(symbol: object) -> bool:
    # fullmatch so a trailing newline (which `$` would tolerate) is refused too.
    return isinstance(symbol, str) and _SYMBOL_RE.fullmatch(symbol) is not None and ".." not in symbol


def validate_symbol(symbol: object) -> str:
    """Return the symbol unchanged, or raise InvalidInput with a one-line reason."""
    if not is_valid_symbol(symbol):
        shown = repr(symbol)[:40]
        raise InvalidInput(
            f"Invalid symbol {shown}: expected 1-32 characters of A-Z 0-9 . _ - starting with a letter or digit"
        )
    return symbol  # type: ignore[return-value]
