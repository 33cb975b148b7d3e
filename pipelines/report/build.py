"""Building a client report: `CAP_HOME/reports/<slug>/<period>/` with the charts (`charts/*.png`),
the PDF, the email body (`email.html`, `email.txt`) and a browser preview (`report.html`)."""

from dataclasses import dataclass
from pathlib import Path

from pipelines.report.content import ReportContent
from pipelines.report.email_body import EmailBody, email_body, write_email_files
from pipelines.report.figures import RenderedChart, render_charts
from pipelines.report.pdf import write_pdf
from pipelines.workspace import Workspace


@dataclass(frozen=True)
class BuiltReport:
    """A written report: its folder, PDF and page count, email body and charts."""

    folder: Path
    pdf: Path
    pages: int
    email: EmailBody
    files: dict[str, Path]
    charts: list[RenderedChart]


def report_folder(workspace: Workspace, content: ReportContent) -> Path:
    """`CAP_HOME/reports/<slug>/<period>/`: the slug is validated, the period is built from a
    date (`2026-10`, `2026-W47`), so no client text names a path."""
    return workspace.reports(content.slug) / content.period_key


def charts_folder(workspace: Workspace, content: ReportContent) -> Path:
    """Where the report's charts are drawn."""
    return report_folder(workspace, content) / "charts"


def pdf_name(content: ReportContent) -> str:
    """The PDF's file name, as the client receives it: `rapport-<slug>-<period>.pdf`."""
    prefix = "rapport" if content.language == "fr" else "report"
    return f"{prefix}-{content.slug}-{content.period_key}.pdf"


def build_report(workspace: Workspace, content: ReportContent) -> BuiltReport:
    """Draw the charts (each once: PNG, then a PDF page), write the PDF and the email body."""
    folder = report_folder(workspace, content)
    charts = render_charts(content, charts_folder(workspace, content))
    pdf = folder / pdf_name(content)
    pages = write_pdf(content, charts, pdf)
    body = email_body(content, charts)
    files = write_email_files(body, folder, pdf)
    return BuiltReport(folder, pdf, pages, body, files, charts)
