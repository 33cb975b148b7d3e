"""The report's email body: HTML with the key charts inline (by Content-ID) and a plain-text
alternative, from the templates in `reports/`; plus a preview of the HTML whose images are the
PNG files beside it, for the consultant to open in a browser."""

import json
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd

from pipelines import formatting
from pipelines.report import style
from pipelines.report.content import REPORTS_DIR, ReportContent, say, strings
from pipelines.report.figures import RenderedChart, key_table, with_interval
from pipelines.report.pdf import summary_paragraphs

VERDICT_COLOURS = {
    "improved": style.IMPROVED,
    "worsened": style.WORSENED,
    "no_significant_change": "#555555",
    "insufficient_data": "#555555",
}


@dataclass(frozen=True)
class EmailBody:
    """The subject, the HTML (images as `cid:<name>`), the text, and the inline charts."""

    subject: str
    html: str
    text: str
    preview_html: str
    inline: list[RenderedChart]


def email_body(content: ReportContent, charts: list[RenderedChart]) -> EmailBody:
    """Render the email of the report in the client's language."""
    language = content.language
    period = formatting.period(pd.Timestamp(content.latest_period), content.grain, language)
    inline = [chart for chart in charts if chart.in_email]
    paragraphs = summary_paragraphs(content)
    context = {
        "language": language,
        "s": strings(language),
        "client": content.config.name,
        "period": period,
        "subject": say(language, "email_subject", client=content.config.name, period=period),
        "intro": say(language, "email_intro", client=content.config.name, period=period),
        "sentences": [p.removeprefix("• ") for p in paragraphs if p.startswith("• ")],
        "notes": [p.strip() for p in paragraphs[1:] if not p.startswith("• ")],
        "table": _table(content),
        "colon": "\u00a0: " if language == "fr" else ": ",
    }
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(REPORTS_DIR),
        autoescape=jinja2.select_autoescape(["html.j2"]),
        keep_trailing_newline=True,
    )
    html = environment.get_template("report_email.html.j2")
    text = environment.get_template("report_email.txt.j2")
    cid = [{"src": f"cid:{chart.name}", "title": chart.title} for chart in inline]
    files = [{"src": f"charts/{chart.png.name}", "title": chart.title} for chart in inline]
    return EmailBody(
        subject=context["subject"],
        html=html.render(context, charts=cid),
        text=text.render(context),
        preview_html=html.render(context, charts=files),
        inline=inline,
    )


def _table(content: ReportContent) -> list[dict[str, str]]:
    """The key table's rows for the templates: every cell with its unit, the verdict's colour,
    and the plain-text line that says the same."""
    language = content.language
    rows = []
    for row in key_table(content):
        cells = {
            "label": row.label,
            "before": row.before,
            "after": row.after,
            "counterfactual": row.counterfactual,
            "change": row.change,
            "interval": row.interval,
            "method": row.method,
            "verdict": row.verdict,
        }
        change = with_interval(row.change, row.interval, language)
        method = row.method.lower() if language == "fr" else row.method
        line = say(language, "email_table_line", **{**cells, "change": change, "method": method})
        rows.append({**cells, "colour": VERDICT_COLOURS[row.verdict_code], "line": line})
    return rows


def write_email_files(body: EmailBody, folder: Path, pdf: Path) -> dict[str, Path]:
    """Write `email.html`, `email.txt`, the browser preview `report.html` and `email.json` (the
    subject, the inline charts and the PDF to attach: what sending the email needs) into
    `folder`."""
    paths = {
        "email_html": folder / "email.html",
        "email_text": folder / "email.txt",
        "preview": folder / "report.html",
        "manifest": folder / "email.json",
    }
    paths["email_html"].write_text(body.html, encoding="utf-8")
    paths["email_text"].write_text(body.text, encoding="utf-8")
    paths["preview"].write_text(body.preview_html, encoding="utf-8")
    manifest = {
        "subject": body.subject,
        "inline": [chart.name for chart in body.inline],
        "pdf": pdf.name,
    }
    paths["manifest"].write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return paths
