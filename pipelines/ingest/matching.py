"""Matching what files say to what the configuration knows: site names, header rows, labels."""

import difflib
import re
from collections.abc import Mapping, Sequence

from pipelines.config.model import ClientConfig
from pipelines.ingest.readers import Cell
from pipelines.ingest.text import looks_misdecoded, normalize
from pipelines.ingest.values import ValueProblem

HEADER_SEARCH_ROWS = 30
_TOTAL = re.compile(r"^(total|totaux|sous-total|sub-?total|cumul|ytd|fy\b|moyenne|average)")


class SiteResolver:
    """Canonical site names from the names and aliases in the client's configuration."""

    def __init__(self, config: ClientConfig) -> None:
        self._by_key = {
            normalize(spelling): site.name
            for site in config.sites
            for spelling in (site.name, *site.aliases)
        }
        self._names = [site.name for site in config.sites]

    def resolve(self, text: str) -> str:
        """The canonical name of a site as a file writes it; `ValueProblem` when unknown."""
        if looks_misdecoded(text):
            raise ValueProblem(
                "misdecoded_text",
                f"site name {text!r} is mis-decoded (wrong encoding): check the source's encoding",
            )
        site = self._by_key.get(normalize(text))
        if site is None:
            close = difflib.get_close_matches(normalize(text), list(self._by_key), n=1)
            hint = f" (did you mean {self._by_key[close[0]]!r}?)" if close else ""
            raise ValueProblem(
                "unknown_site",
                f"unknown site {text!r}{hint}; client.yaml knows: {', '.join(self._names)}. "
                "Add it, or add this spelling to a site's aliases",
            )
        return site


def is_blank(cell: Cell) -> bool:
    """An empty cell (None or only spaces)."""
    return cell is None or (isinstance(cell, str) and not cell.strip())


def is_total_label(cell: Cell) -> bool:
    """A label of a total or subtotal row or column (`Total 2026 (YTD)`, `FY total`, `Cumul`)."""
    return isinstance(cell, str) and bool(_TOTAL.match(normalize(cell)))


def find_header(
    rows: Sequence[Sequence[Cell]],
    wanted: Mapping[str, Sequence[str]],
    required: Sequence[str],
) -> tuple[int, dict[str, int]] | None:
    """The header row below any title rows, and the column of each wanted key found in it.

    `wanted` maps a key to its accepted headers (synonyms); a row qualifies when it holds every
    `required` key. Of the qualifying rows, the one matching the most keys wins.
    """
    synonyms = {normalize(text): key for key, texts in wanted.items() for text in texts}
    best: tuple[int, dict[str, int]] | None = None
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        found: dict[str, int] = {}
        for column, cell in enumerate(row):
            if isinstance(cell, str):
                key = synonyms.get(normalize(cell))
                if key is not None and key not in found:
                    found[key] = column
        if all(key in found for key in required) and (best is None or len(found) > len(best[1])):
            best = (index, found)
    return best
