"""A minimal client folder for tests that need a valid client.yaml but no data, and the
source a test's `ClientConfig` can name when it loads values directly."""

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


def long_source(indicators: dict[str, str]) -> dict[str, object]:
    """A `long` CSV export (`Site;Mois;Indicateur;Valeur`) whose indicator codes map to the
    KPIs of `indicators`, as a client.yaml `sources` entry."""
    return {
        "name": "export",
        "pattern": "*.csv",
        "layout": "long",
        "site": "Site",
        "period": "Mois",
        "indicator": "Indicateur",
        "value": "Valeur",
        "indicators": indicators,
    }


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
