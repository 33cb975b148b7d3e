"""What the demo portfolio injects: the ground truth that the analysis must recover.

Each demo client carries one or more known effects on a derived ratio KPI
(`factor * numerator / denominator`). The generators in `pipelines.demo.series` read their
go-lives and effect sizes from here, so this module is the single source of truth.

Effects are exact in expectation: the ratio of a site and period is
`baseline(site, season, trend) * effect * noise`, where `noise` is multiplicative log-normal
noise, independent across sites and periods and identically distributed before and after the
go-live (relative effects), or `baseline + effect + noise` in points (absolute effects).
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

ChangeType = Literal["relative", "points"]
Design = Literal["seasonal", "difference_in_differences"]


@dataclass(frozen=True)
class InjectedEffect:
    """One injected effect on a derived KPI `factor * numerator / denominator`.

    `change` is a relative change (0.12 for +12 %) when `change_type` is `relative`, or an
    absolute change in points (3.0 for +3 points) when it is `points`. `noise_sd` is the
    standard deviation of the period-level noise on the ratio: of its natural log for a relative
    effect, in points for a points effect.
    """

    kpi: str
    numerator: str
    denominator: str
    change: float
    change_type: ChangeType
    noise_sd: float
    factor: float = 1.0

    @property
    def expected_ratio(self) -> float | None:
        """After/before ratio of the KPI for a relative effect (1.12), None for points."""
        return 1.0 + self.change if self.change_type == "relative" else None


@dataclass(frozen=True)
class DemoEffect:
    """The effects injected into one demo client, with the sites and dates they apply to.

    A treated site is "after" from its go-live period on (the month starting on, or the ISO
    week whose Monday is, its go-live date); there is no ramp-up. Control sites never change.
    """

    slug: str
    name: str
    cadence: Literal["monthly", "weekly"]
    data_start: dt.date
    go_live: Mapping[str, dt.date]
    controls: tuple[str, ...]
    effects: tuple[InjectedEffect, ...]
    design: Design
    description: str

    def __hash__(self) -> int:
        return hash(self.slug)

    @property
    def treated(self) -> tuple[str, ...]:
        """The treated sites, in the order of `go_live`."""
        return tuple(self.go_live)

    @property
    def sites(self) -> tuple[str, ...]:
        """Every site: treated first, then controls."""
        return self.treated + self.controls

    @property
    def primary(self) -> InjectedEffect:
        """The first (headline) effect."""
        return self.effects[0]

    @property
    def kpi(self) -> str:
        """Derived KPI of the headline effect."""
        return self.primary.kpi

    @property
    def numerator(self) -> str:
        """Numerator base KPI of the headline effect."""
        return self.primary.numerator

    @property
    def denominator(self) -> str:
        """Denominator base KPI of the headline effect."""
        return self.primary.denominator

    @property
    def change(self) -> float:
        """Size of the headline effect (relative or in points, see `change_type`)."""
        return self.primary.change

    @property
    def change_type(self) -> ChangeType:
        """`relative` or `points`, for the headline effect."""
        return self.primary.change_type

    def effect(self, kpi: str) -> InjectedEffect:
        """The injected effect on a derived KPI (KeyError if none)."""
        for candidate in self.effects:
            if candidate.kpi == kpi:
                return candidate
        raise KeyError(kpi)

    def is_after(self, site: str, period_start: dt.date) -> bool:
        """Whether a period of a site falls after its go-live (False for controls)."""
        go_live = self.go_live.get(site)
        return go_live is not None and period_start >= go_live


MENUISERIES = DemoEffect(
    slug="menuiseries-rhone",
    name="Menuiseries du Rhône",
    cadence="monthly",
    data_start=dt.date(2023, 1, 1),
    go_live=MappingProxyType(
        {
            "Lyon": dt.date(2025, 1, 1),
            "Saint-Étienne": dt.date(2025, 3, 1),
            "Vénissieux": dt.date(2025, 5, 1),
            "Villefranche": dt.date(2025, 9, 1),
        }
    ),
    controls=(),
    effects=(
        InjectedEffect(
            kpi="units_per_hour",
            numerator="units_produced",
            denominator="hours_worked",
            change=0.12,
            change_type="relative",
            noise_sd=0.02,
        ),
    ),
    design="seasonal",
    description=(
        "Units per hour +12% from each site's go-live (staggered, no ramp-up): hours drop for "
        "the same output; strong August and December dips make a naive before/after biased."
    ),
)

DURAND = DemoEffect(
    slug="logistique-durand",
    name="Logistique Durand",
    cadence="weekly",
    data_start=dt.date(2023, 1, 2),
    go_live=MappingProxyType(
        {"Lille-Lesquin": dt.date(2025, 3, 3), "Hénin-Beaumont": dt.date(2025, 3, 3)}
    ),
    controls=("Arras", "Valenciennes"),
    effects=(
        InjectedEffect(
            kpi="parcels_per_hour",
            numerator="parcels_shipped",
            denominator="hours_worked",
            change=0.15,
            change_type="relative",
            noise_sd=0.025,
        ),
    ),
    design="difference_in_differences",
    description=(
        "Parcels per hour +15% on the two treated sites from ISO week 2025-W10; every site "
        "shares a +4%/year productivity trend and a pre-Christmas peak, so a naive "
        "before/after overstates the effect and difference-in-differences recovers it."
    ),
)

HELIOS = DemoEffect(
    slug="helios-services",
    name="Helios Services",
    cadence="monthly",
    data_start=dt.date(2024, 1, 1),
    go_live=MappingProxyType(
        {
            "Paris": dt.date(2025, 6, 1),
            "Lyon": dt.date(2025, 6, 1),
            "Nantes": dt.date(2025, 6, 1),
        }
    ),
    controls=(),
    effects=(
        InjectedEffect(
            kpi="billable_hours_per_fte",
            numerator="billable_hours",
            denominator="fte",
            change=0.08,
            change_type="relative",
            noise_sd=0.018,
        ),
        InjectedEffect(
            kpi="ebitda_margin_pct",
            numerator="ebitda_eur",
            denominator="revenue_eur",
            change=3.0,
            change_type="points",
            noise_sd=0.8,
            factor=100.0,
        ),
    ),
    design="seasonal",
    description=(
        "Billable hours per FTE +8% and EBITDA margin +3 points on every site from June 2025; "
        "August and December dips; revenue rises only about 3.5% (fixed-fee work)."
    ),
)

DEMO_EFFECTS: dict[str, DemoEffect] = {
    effect.slug: effect for effect in (MENUISERIES, DURAND, HELIOS)
}
"""The injected effects of every demo client, by slug."""
