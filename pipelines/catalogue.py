"""The KPI catalogue: every base KPI Cap stores and every derived KPI it computes, with unit,
direction and labels in French and English.

Client files are mapped onto the base KPIs; a KPI that is not here cannot be stored. A derived
KPI is `factor * numerator / denominator` of two base KPIs, computed in SQL per site and period and
for the client as a whole (the ratio of the sums, never the mean of the sites' ratios). A client
adds its own in `client.yaml` (`derived_kpis`). The catalogue is versioned with the code, and
its version is stored beside every impact result.
"""

from dataclasses import dataclass
from typing import Literal

CATALOGUE_VERSION = "2026.11"
"""Bumped whenever a KPI's formula, unit or direction changes."""

Unit = Literal["eur", "hours", "fte", "units", "parcels", "pct", "people"]
Direction = Literal["higher_is_better", "lower_is_better"]
Family = Literal["productivity", "profitability"]


@dataclass(frozen=True)
class Kpi:
    """A base KPI: what a client sends, in canonical units (money in EUR, percentages in points)."""

    name: str
    unit: Unit
    direction: Direction
    label_fr: str
    label_en: str
    min_value: float | None = 0.0
    """Smallest plausible value (None: no lower bound, as for EBITDA)."""
    max_value: float | None = None
    """Largest plausible value (100 for percentages in points)."""
    strictly_positive: bool = False
    """True when 0 itself is not plausible (a site's revenue)."""


BASE_KPIS: dict[str, Kpi] = {
    k.name: k
    for k in (
        Kpi(
            "revenue_eur",
            "eur",
            "higher_is_better",
            "Chiffre d'affaires",
            "Revenue",
            strictly_positive=True,
        ),
        Kpi("hours_worked", "hours", "lower_is_better", "Heures travaillées", "Hours worked"),
        Kpi("fte", "fte", "lower_is_better", "Effectif (ETP)", "Headcount (FTE)"),
        Kpi("units_produced", "units", "higher_is_better", "Unités produites", "Units produced"),
        Kpi("material_cost_eur", "eur", "lower_is_better", "Coût matière", "Material cost"),
        Kpi("staff_cost_eur", "eur", "lower_is_better", "Masse salariale", "Staff cost"),
        Kpi("ebitda_eur", "eur", "higher_is_better", "EBITDA", "EBITDA", min_value=None),
        Kpi("parcels_shipped", "parcels", "higher_is_better", "Colis expédiés", "Parcels shipped"),
        Kpi("total_cost_eur", "eur", "lower_is_better", "Coût total", "Total cost"),
        Kpi(
            "service_level_pct",
            "pct",
            "higher_is_better",
            "Taux de service",
            "Service level",
            max_value=100.0,
        ),
        Kpi("billable_hours", "hours", "higher_is_better", "Heures facturables", "Billable hours"),
        Kpi(
            "gross_margin_pct",
            "pct",
            "higher_is_better",
            "Marge brute",
            "Gross margin",
            min_value=-100.0,
            max_value=100.0,
        ),
        Kpi(
            "operating_cost_eur",
            "eur",
            "lower_is_better",
            "Coûts d'exploitation",
            "Operating costs",
        ),
        Kpi("temp_workers", "people", "lower_is_better", "Intérimaires", "Temporary workers"),
    )
}


CONSTANT_PRICES_LABEL = {"fr": " à prix constants", "en": " at constant prices"}
"""What follows the label of a KPI compared at constant prices (`impact.constant_prices`)."""

ADDITIVE_UNITS: frozenset[str] = frozenset({"eur", "hours", "fte", "units", "parcels", "people"})
"""Base units whose values add up across sites (a client total is their sum); percentages do
not, so a base percentage KPI has no client total."""


@dataclass(frozen=True)
class DerivedKpi:
    """A KPI computed as `factor * numerator / denominator` from two base KPIs of the same site
    and period; it exists only where both exist (and the denominator is not zero)."""

    name: str
    numerator: str
    denominator: str
    unit: str
    """Display unit: `pct` (points), or `<money or count>_per_<base>` such as `eur_per_fte`."""
    direction: Direction
    label_fr: str
    label_en: str
    factor: float = 1.0
    family: Family = "productivity"
    """The report's section: `productivity` or `profitability`."""

    @property
    def formula(self) -> str:
        """The formula in words, as README and the methodology note show it."""
        ratio = f"{self.numerator} / {self.denominator}"
        return ratio if self.factor == 1 else f"{self.factor:g} * {ratio}"


DERIVED_KPIS: dict[str, DerivedKpi] = {
    k.name: k
    for k in (
        DerivedKpi(
            "units_per_hour",
            "units_produced",
            "hours_worked",
            "units_per_hour",
            "higher_is_better",
            "Productivité (unités par heure)",
            "Productivity (units per hour)",
        ),
        DerivedKpi(
            "parcels_per_hour",
            "parcels_shipped",
            "hours_worked",
            "parcels_per_hour",
            "higher_is_better",
            "Productivité (colis par heure)",
            "Productivity (parcels per hour)",
        ),
        DerivedKpi(
            "billable_hours_per_fte",
            "billable_hours",
            "fte",
            "hours_per_fte",
            "higher_is_better",
            "Heures facturables par ETP",
            "Billable hours per FTE",
        ),
        DerivedKpi(
            "revenue_per_fte",
            "revenue_eur",
            "fte",
            "eur_per_fte",
            "higher_is_better",
            "Chiffre d'affaires par ETP",
            "Revenue per FTE",
        ),
        DerivedKpi(
            "ebitda_margin_pct",
            "ebitda_eur",
            "revenue_eur",
            "pct",
            "higher_is_better",
            "Marge d'EBITDA",
            "EBITDA margin",
            factor=100.0,
            family="profitability",
        ),
        DerivedKpi(
            "staff_cost_ratio_pct",
            "staff_cost_eur",
            "revenue_eur",
            "pct",
            "lower_is_better",
            "Masse salariale / chiffre d'affaires",
            "Staff cost to revenue",
            factor=100.0,
            family="profitability",
        ),
        DerivedKpi(
            "material_cost_ratio_pct",
            "material_cost_eur",
            "revenue_eur",
            "pct",
            "lower_is_better",
            "Coût matière / chiffre d'affaires",
            "Material cost to revenue",
            factor=100.0,
            family="profitability",
        ),
        DerivedKpi(
            "cost_per_parcel_eur",
            "total_cost_eur",
            "parcels_shipped",
            "eur_per_parcel",
            "lower_is_better",
            "Coût par colis",
            "Cost per parcel",
            family="profitability",
        ),
        DerivedKpi(
            "unit_cost_eur",
            "total_cost_eur",
            "units_produced",
            "eur_per_unit",
            "lower_is_better",
            "Coût unitaire",
            "Unit cost",
            family="profitability",
        ),
    )
}
"""The derived KPIs every client gets where it sends their parts."""


def label(kpi: str, language: str, derived: dict[str, DerivedKpi] | None = None) -> str:
    """The KPI's label in `language` (`fr` or `en`), from the base or derived catalogue (or the
    client's own derived KPIs); the code itself when unknown."""
    entry = (derived or {}).get(kpi) or DERIVED_KPIS.get(kpi) or BASE_KPIS.get(kpi)
    if entry is None:
        return kpi
    return entry.label_fr if language == "fr" else entry.label_en
