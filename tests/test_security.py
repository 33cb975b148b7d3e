"""Client-supplied names are data, never paths; client text is never evaluated when shown."""

import datetime as dt
from pathlib import Path

import pandas as pd

from pipelines.config.model import ClientConfig
from pipelines.ingest.archive import archive_inbox
from pipelines.ingest.load import load_received, parse_file
from pipelines.markdown import markdown_table
from pipelines.warehouse import open_warehouse
from pipelines.workspace import Workspace

HOSTILE = ["../../etc/passwd", "..\\..\\x", "/tmp/evil", "C:\\Windows"]


def test_hostile_site_and_file_names_write_nothing_outside_the_workspace(tmp_path: Path) -> None:
    home = tmp_path / "home"
    workspace = Workspace(home)
    workspace.ensure()
    config = ClientConfig.model_validate(
        {
            "name": "Hostile",
            "cadence": "weekly",
            "go_live": "2025-01-06",
            "sites": [{"name": name} for name in HOSTILE],
            "sources": [
                {
                    "name": "wms",
                    "pattern": "*",
                    "layout": "long",
                    "site": "Site",
                    "period": "Semaine",
                    "indicator": "Indicateur",
                    "value": "Valeur",
                    "indicators": {"COLIS": "parcels_shipped"},
                }
            ],
        }
    )
    inbox = workspace.inbox("hostile")
    inbox.mkdir(parents=True)
    lines = ["Site;Semaine;Indicateur;Valeur", *(f"{name};2025-S01;COLIS;1" for name in HOSTILE)]
    (inbox / "..\\..\\..\\escape.csv").write_text("\n".join(lines) + "\n")
    (inbox / "..\\bad.csv").write_text("Site;Semaine;Indicateur;Valeur\n../../x;2025-S01;COLIS;1\n")
    before = set(tmp_path.rglob("*"))
    with open_warehouse(workspace.warehouse("hostile")) as con:
        archive_inbox(workspace, "hostile", config, con, dt.datetime(2026, 11, 26))
        summary = load_received(workspace, "hostile", config, con, dt.date(2026, 11, 26))
        sites = con.execute("select site from kpi_observations order by site").fetchall()
    created = set(tmp_path.rglob("*")) - before
    assert all(home in path.parents for path in created), sorted(created)
    assert {path.parent.name for path in created if path.is_file()} == {
        "hostile",  # archive/hostile and quarantine/hostile: files named by their SHA-256
        "warehouse",
    }
    manifest = workspace.archive("hostile") / "manifest.jsonl"
    assert manifest in created  # the archive's manifest: names stay inside it, as data
    named_by_hash = [p for p in created - {manifest} if p.is_file() and p.parent.name == "hostile"]
    assert len(named_by_hash) == 4  # two archived files, one quarantined copy and its reason
    assert all(len(path.name.split(".")[0]) == 64 for path in named_by_hash)
    assert sorted(site for (site,) in sites) == sorted(HOSTILE)
    assert summary.rejected == ["..\\bad.csv"]


def test_formula_and_markup_in_client_text_are_neutralised_in_tables() -> None:
    frame = pd.DataFrame(
        {
            "value": [
                '=HYPERLINK("http://x")',
                "+1+2",
                "@SUM(A1)",
                "<script>alert(1)</script>",
                "a|b",
            ]
        }
    )
    table = markdown_table(frame)
    assert '| \'=HYPERLINK("http://x") |' in table
    assert "| '+1+2 |" in table
    assert "| '@SUM(A1) |" in table
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table
    assert "<script>" not in table
    assert "| a\\|b |" in table


def test_a_file_over_the_size_limit_is_rejected_unread(tmp_path: Path) -> None:
    config = ClientConfig.model_validate(
        {
            "name": "Big",
            "cadence": "weekly",
            "go_live": "2025-01-06",
            "sites": [{"name": "Lyon"}],
            "sources": [
                {
                    "name": "wms",
                    "pattern": "*.csv",
                    "layout": "long",
                    "max_file_mb": 1,
                    "site": "Site",
                    "period": "Semaine",
                    "indicator": "Indicateur",
                    "value": "Valeur",
                    "indicators": {"COLIS": "parcels_shipped"},
                }
            ],
        }
    )
    path = tmp_path / "export.csv"
    path.write_text("Site;Semaine;Indicateur;Valeur\n" + "Lyon;2025-S01;COLIS;1\n" * 60_000)
    parsed = parse_file(path, "export.csv", "wms", config, dt.date(2026, 11, 26))
    assert [(r.rule, r.message) for r in parsed.rejections] == [
        (
            "file_too_large",
            "the file is 1.3 MB, over this source's limit of 1 MB (max_file_mb in client.yaml)",
        )
    ]
