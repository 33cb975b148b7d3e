"""The KPI catalogue: every base KPI Cap stores, with its unit, direction and labels.

Client files are mapped onto these names; a KPI that is not here cannot be stored.
"""

from dataclasses import dataclass
from typing import Literal

Unit = Literal["eur", "hours", "fte", "units", "parcels", "pct", "people"]
Direction = Literal["higher_is_better", "lower_is_better"]


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
