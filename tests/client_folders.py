"""A minimal client folder for tests that need a valid client.yaml but no data."""

from pathlib import Path

CLIENT_YAML = """\
name: {name}
timezone: {timezone}
cadence: monthly
go_live: 2025-03-01
sites:
  - name: Lyon
sources:
  - name: production
    layout: sheet_per_site
    pattern: "*.xlsx"
    period: Mois
    columns:
      units_produced: Unités
report:
  delivery: {delivery}
"""


def write_client(
    home: Path,
    slug: str,
    *,
    timezone: str = "Europe/Paris",
    delivery: str = "review",
    text: str | None = None,
) -> None:
    """`clients/<slug>/client.yaml` under `home`: the minimal one, or `text` as given."""
    folder = home / "clients" / slug
    folder.mkdir(parents=True)
    text = text or CLIENT_YAML.format(name=slug.title(), timezone=timezone, delivery=delivery)
    (folder / "client.yaml").write_text(text, encoding="utf-8")
