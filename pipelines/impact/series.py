"""The client's KPI series: base and derived KPIs per site and period, and the totals, in DuckDB.

The table `kpi_series` is rebuilt from `kpi_values` by `sql/create_kpi_series.sql`, which reads
three small relations registered here from the catalogue and `client.yaml`.
"""

from collections.abc import Collection, Iterator

import duckdb
import pandas as pd

from pipelines.catalogue import ADDITIVE_UNITS, BASE_KPIS, DERIVED_KPIS, DerivedKpi
from pipelines.config.model import ClientConfig
from pipelines.impact import prices
from pipelines.sql import execute_sql

CLIENT_TOTAL = "__client_total__"
"""The `site` of the client total (its transformed sites) in `kpi_series` and `impact`."""
CONTROLS_TOTAL = "__controls_total__"
"""The `site` of the pooled control sites in `kpi_series`."""


def derived_kpis(config: ClientConfig) -> dict[str, DerivedKpi]:
    """The catalogue's derived KPIs and the client's own; those at constant prices say so in
    their labels."""
    own = {
        spec.name: DerivedKpi(
            spec.name,
            spec.numerator,
            spec.denominator,
            spec.unit,
            spec.direction,
            spec.label_fr,
            spec.label_en,
            spec.factor,
            spec.family,
        )
        for spec in config.derived_kpis
    }
    every = {**DERIVED_KPIS, **own}
    return {name: prices.labelled_kpi(config, kpi) for name, kpi in every.items()}


def build_kpi_series(con: duckdb.DuckDBPyConnection, config: ClientConfig) -> int:
    """Rebuild `kpi_series` from the current values; return its number of rows."""
    definitions = pd.DataFrame(
        [
            (d.name, d.numerator, d.denominator, d.factor, d.unit)
            for d in derived_kpis(config).values()
        ],
        columns=["kpi", "numerator", "denominator", "factor", "unit"],
    )
    groups = pd.DataFrame(
        [
            (site.name, "controls_total" if site.control else "client_total")
            for site in config.sites
        ],
        columns=["site", "scope"],
    )
    additive = pd.DataFrame(
        {"kpi": [k.name for k in BASE_KPIS.values() if k.unit in ADDITIVE_UNITS]}
    )
    periods = execute_sql(con, "select_value_periods").df()
    relations = {
        "derived_definitions": definitions,
        "site_groups": groups,
        "additive_kpis": additive,
        "price_indices": prices.price_indices(config, periods),
    }
    for name, frame in relations.items():
        con.register(name, frame)
    try:
        execute_sql(con, "create_kpi_series")
    finally:
        for name in relations:
            con.unregister(name)
    ((rows,),) = execute_sql(con, "count_kpi_series").fetchall()
    return int(rows)


def read_kpi_series(
    con: duckdb.DuckDBPyConnection, only: Collection[str] | None = None
) -> Iterator[pd.DataFrame]:
    """`kpi_series` (site, period_start, kpi, value) a KPI at a time, in KPI, site and time
    order (`only` those KPIs, when given); `site` and `kpi` are categories shared by every
    frame, so the frames concatenate into categories. A client with a hundred sites has 1.5
    million rows, whose strings as Python objects would cost 400 MB at once.
    """
    ((kpis, sites),) = execute_sql(con, "select_kpi_series_names").fetchall()
    for kpi in kpis:
        if only is not None and kpi not in only:
            continue
        frame = execute_sql(con, "select_kpi_series_of", {"kpi": kpi}).df()
        frame["site"] = pd.Categorical(frame["site"], categories=sites)
        frame["kpi"] = pd.Categorical(frame["kpi"], categories=kpis)
        yield frame
