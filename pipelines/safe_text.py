"""Client-supplied text made harmless wherever Cap writes it for people (tables, pages, files,
one-line summaries).

A cell beginning with `=`, `+`, `-` or `@` is a formula to a spreadsheet that opens it (CSV or
formula injection); text with `<` or `&` is markup to a browser. Cap never evaluates either, and
neutralises both when it writes client text back out.
"""

import html
import re

from pipelines.ingest.text import normalize

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formula(text: str) -> str:
    """Text a spreadsheet will show as text: a leading formula trigger gets an apostrophe."""
    return f"'{text}" if text.startswith(FORMULA_TRIGGERS) else text


def for_markdown(text: str) -> str:
    """Text safe in a markdown table cell rendered as HTML: no formula, markup or cell break."""
    escaped = html.escape(neutralize_formula(text), quote=False)
    return escaped.replace("|", "\\|").replace("\n", " ")


def file_stem(text: str, limit: int = 40) -> str:
    """A file-name part made from client text: ASCII letters, digits and dashes only, so a
    site called `../../etc/passwd` becomes `etc-passwd` and can never name a path."""
    stem = re.sub(r"[^a-z0-9]+", "-", normalize(text)).strip("-")[:limit].strip("-")
    return stem or "x"


def one_line(text: str, limit: int) -> str:
    """`text` on one line (whitespace runs become one space), cut to `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
