"""Why a file was set aside, in the client's language: every rule has its words in French and
English, and the report's appendix names the place, the problem and the value."""

import ast
import datetime as dt
import os
from pathlib import Path

import pytest

from pipelines.config.model import ClientConfig
from pipelines.ingest.archive import archive_inbox
from pipelines.ingest.load import load_received
from pipelines.quality.deliveries import check_deliveries
from pipelines.quality.expectations import delivery_rules
from pipelines.report.content import PROBLEMS_SHOWN, strings
from pipelines.report.problems import BOUNDS_SUFFIX, file_reasons
from pipelines.sql import execute_sql
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 26)
NOW = dt.datetime(2026, 11, 26, 2, 0)


def config(language: str) -> ClientConfig:
    return ClientConfig.model_validate(
        {
            "name": "Boulangeries Martin",
            "language": language,
            "cadence": "monthly",
            "go_live": "2025-01-01",
            "sites": [{"name": "Lyon"}, {"name": "Vénissieux"}],
            "sources": [
                {
                    "name": "export",
                    "pattern": "*.csv",
                    "layout": "long",
                    "grain": "month",
                    "site": "Site",
                    "period": "Mois",
                    "indicator": "Indicateur",
                    "value": "Valeur",
                    "indicators": {"HEURES": "hours_worked", "TX": "service_level_pct"},
                }
            ],
        }
    )


def _rule_codes_in_code() -> set[str]:
    """Every rule code the ingest code raises or records, read from its source."""
    codes: set[str] = set()
    for path in (ROOT / "pipelines" / "ingest").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            position = {"FileProblem": 0, "ValueProblem": 0, "reject": 4, "_reject_key": 3}
            if name in position and len(node.args) > position[name]:
                argument = node.args[position[name]]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    codes.add(argument.value)
    return codes


def test_every_rule_has_words_in_both_languages() -> None:
    codes = _rule_codes_in_code()
    assert {"unknown_site", "not_a_number", "content_mismatch", "bad_period"} <= codes
    rules = delivery_rules(config("fr"), {"hours_worked", "service_level_pct"}, TODAY)
    names = {rule.name for rule in rules}
    assert "service_level_pct" + BOUNDS_SUFFIX in names
    codes |= {"within_bounds" if n.endswith(BOUNDS_SUFFIX) else n for n in names}
    for language in ("fr", "en"):
        worded = set(strings(language)["problems"])
        assert codes - worded == set(), language
    assert set(strings("fr")["problems"]) == set(strings("en")["problems"])


def _deliver(workspace: Workspace, name: str, body: str, day: int) -> None:
    path = workspace.inbox("martin") / name
    path.write_text("Export KPI – octobre\nSite;Mois;Indicateur;Valeur\n" + body, encoding="utf-8")
    stamp = dt.datetime(2026, 10, day, tzinfo=dt.UTC).timestamp()
    os.utime(path, (stamp, stamp))


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_appendix_says_why_in_the_clients_language(tmp_path: Path, language: str) -> None:
    workspace = Workspace(tmp_path)
    workspace.ensure()
    workspace.inbox("martin").mkdir(parents=True)
    client = config(language)
    good = "".join(
        f"Lyon;2026-{month:02d};HEURES;{1180 + 7 * month}\n"
        f"Lyon;2026-{month:02d};TX;{95 - month % 3}\n"
        for month in range(1, 10)
    )
    _deliver(workspace, "export janvier-septembre.csv", good, 1)
    _deliver(workspace, "export octobre.csv", "Lyonn;2026-10;HEURES;1 250\n", 2)
    _deliver(
        workspace,
        "export octobre corrigé.csv",
        "Lyon;2026-10;TX;140\nLyon;2026-10;HEURES;1252\n",
        3,
    )
    with open_warehouse(workspace.warehouse("martin")) as con:
        archive_inbox(workspace, "martin", client, con, NOW)
        load_received(workspace, "martin", client, con, TODAY)
        check_deliveries(workspace, "martin", client, con, TODAY, NOW)
        problems = execute_sql(con, "select_report_problems", {"shown": PROBLEMS_SHOWN}).df()
    reasons = file_reasons(language, problems)
    nbsp = "\u00a0"
    if language == "fr":
        assert reasons == {
            "export octobre.csv": f"Ligne 3, colonne A{nbsp}: site inconnu («{nbsp}Lyonn{nbsp}»)",
            "export octobre corrigé.csv": (
                f"Ligne 3, colonne D{nbsp}: valeur hors des bornes plausibles de "
                f"l'indicateur («{nbsp}140{nbsp}»)"
            ),
        }
    else:
        assert reasons == {
            "export octobre.csv": "Line 3, column A: unknown site (“Lyonn”)",
            "export octobre corrigé.csv": (
                "Line 3, column D: value outside the indicator's plausible bounds (“140”)"
            ),
        }


def test_several_problems_are_joined_and_counted() -> None:
    import pandas as pd

    problems = pd.DataFrame(
        {
            "file": ["Tableau de bord mars.xlsx"] * 3,
            "sheet": ["Lyon", "Lyon", None],
            "row": [12, 14, None],
            "column": ["D", "E", None],
            "value": ["12,5 k", None, None],
            "rule": ["not_a_number", "bad_period", "no_site"],
            "problems": [7, 7, 7],
        }
    )
    nbsp = "\u00a0"
    assert file_reasons("fr", problems) == {
        "Tableau de bord mars.xlsx": (
            f"Feuille «{nbsp}Lyon{nbsp}», ligne 12, colonne D{nbsp}: valeur non numérique "
            f"(«{nbsp}12,5 k{nbsp}»){nbsp}; feuille «{nbsp}Lyon{nbsp}», ligne 14, colonne E"
            f"{nbsp}: période absente ou illisible{nbsp}; fichier entier{nbsp}: ligne sans site"
            f"{nbsp}; et 4 autre(s) problème(s)"
        )
    }
    assert file_reasons("en", problems)["Tableau de bord mars.xlsx"].startswith(
        "Sheet “Lyon”, row 12, column D: not a number (“12,5 k”); sheet “Lyon”, row 14"
    )
