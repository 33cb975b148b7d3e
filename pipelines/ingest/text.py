"""Text normalisation for matching headers, labels and site names as people write them."""

import re
import unicodedata

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
_SPACES = re.compile(r"\s+")
_MOJIBAKE = re.compile("[\ufffd]|Ã[\u0080-\u00bf]|Ã[\u00a0-\u00bf]|â€")


def normalize(text: str) -> str:
    """Fold a header or label for matching: case, accents, apostrophes and spaces ignored.

    >>> normalize("  Chiffre d’Affaires   (k€) ")
    "chiffre d'affaires (k€)"
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _SPACES.sub(" ", stripped).strip().casefold()


def looks_misdecoded(text: str) -> bool:
    """True for text decoded with the wrong encoding (`VÃ©nissieux`, `V\ufffdnissieux`)."""
    return bool(_MOJIBAKE.search(text))


def column_letter(index: int) -> str:
    """Spreadsheet column letter of a 0-based column index (0 -> A, 27 -> AB)."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters
