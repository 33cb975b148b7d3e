"""The client configuration (`client.yaml`) as pydantic models.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored setting.
The loader (`pipelines.config.loader`) turns validation errors into messages that name the file,
the line and the key path.
"""

import datetime as dt
import difflib
import re
import zoneinfo
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from pipelines.catalogue import BASE_KPIS, DERIVED_KPIS

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ADDRESS = r"[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+"
_EMAIL = re.compile(rf"^(?:{_ADDRESS}|[^<>@\s][^<>@]*<{_ADDRESS}>)$")


def _as_list(value: object) -> object:
    """Let a single string stand for a one-element list (`pattern: "*.xlsx"`)."""
    return [value] if isinstance(value, str) else value


Names = Annotated[list[str], BeforeValidator(_as_list)]
"""One header, file pattern or alias, or several: YAML accepts a string or a list."""


KpiName = Annotated[str, AfterValidator(lambda name: _check_kpi(name))]
"""A base KPI name from the catalogue (`revenue_eur`), checked with a did-you-mean."""


class StrictModel(BaseModel):
    """Base for every configuration model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_kpi(name: str) -> str:
    if name not in BASE_KPIS:
        close = difflib.get_close_matches(name, list(BASE_KPIS), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else " (see the KPI catalogue in README)"
        raise ValueError(f"unknown KPI {name!r}{hint}")
    return name


class Source(StrictModel):
    """Settings shared by every layout: which files, and how to read their bytes and numbers."""

    name: str = Field(description="Short name of the source, used in messages and lineage.")
    pattern: Names = Field(
        description="Glob pattern(s) matched against file names in the client's inbox.",
        min_length=1,
    )
    format: Literal["auto", "xlsx", "xlsm", "xls", "ods", "csv", "txt"] = Field(
        "auto", description="File format; `auto` goes by the extension and checks the content."
    )
    locale: Literal["fr", "en"] | None = Field(
        None,
        description="How numbers and month names are written; defaults to the client's language.",
    )
    encoding: Literal["auto", "utf-8", "cp1252", "latin-1"] = Field(
        "auto", description="Text encoding of CSV/TXT files; `auto` tries UTF-8 then cp1252."
    )
    delimiter: Literal["auto", ";", ",", "tab"] = Field(
        "auto", description="Field delimiter of CSV/TXT files; `auto` detects it."
    )
    grain: Literal["month", "week"] | None = Field(
        None, description="Period grain of the values; defaults from the client's cadence."
    )
    skip_sheets: Names = Field(
        default_factory=list, description="Sheets to ignore (notes, summaries), by name."
    )
    scale: dict[KpiName, float] = Field(
        default_factory=dict,
        description="Multiplier per KPI applied to every value read (1000 for figures in k€).",
    )
    max_file_mb: int = Field(
        200, gt=0, description="Files larger than this (in MB) are rejected without being read."
    )
    percent_cells: Literal["fraction", "points"] = Field(
        "fraction",
        description="How numeric spreadsheet cells of percentage KPIs are stored: `fraction` "
        "(0.359, as Excel stores a cell formatted as 35.9 %) or `points` (35.9). Text such as "
        "`35,9 %` is read as written either way.",
    )


class SheetPerSiteSource(Source):
    """A workbook with one sheet per site, one row per period and KPIs as columns."""

    layout: Literal["sheet_per_site"]
    period: Names = Field(description="Header(s) of the period column.", min_length=1)
    columns: dict[KpiName, Names] = Field(
        description="For each KPI, the header(s) of its column (synonyms across years).",
        min_length=1,
    )


class LongSource(Source):
    """One row per (site, period, indicator, value), indicator codes mapped to KPIs."""

    layout: Literal["long"]
    site: Names = Field(description="Header(s) of the site column.", min_length=1)
    period: Names = Field(description="Header(s) of the period column.", min_length=1)
    indicator: Names = Field(description="Header(s) of the indicator column.", min_length=1)
    value: Names = Field(description="Header(s) of the value column.", min_length=1)
    indicators: dict[str, KpiName] = Field(
        description="Indicator code as the client writes it -> canonical KPI name.", min_length=1
    )


class WideSource(Source):
    """KPIs as rows and periods as columns (finance packs), possibly under a merged year header."""

    layout: Literal["wide"]
    site_from: Literal["sheet", "fixed"] = Field(
        "sheet", description="`sheet`: each sheet is a site; `fixed`: the whole file is `site`."
    )
    site: str | None = Field(None, description="The site of every value when `site_from: fixed`.")
    rows: dict[KpiName, Names] = Field(
        description="For each KPI, the label(s) of its row.", min_length=1
    )

    @model_validator(mode="after")
    def _fixed_site_named(self) -> "WideSource":
        if self.site_from == "fixed" and not self.site:
            raise ValueError("`site` is required when `site_from` is `fixed`")
        if self.site_from == "sheet" and self.site:
            raise ValueError("`site` is only allowed when `site_from` is `fixed`")
        return self


class Measure(StrictModel):
    """How one KPI is computed from transaction lines: which column, and how lines add up."""

    column: Names | None = Field(
        None, description="Header(s) of the column to aggregate (not needed for `count`)."
    )
    agg: Literal["sum", "count", "mean"] = Field(
        "sum", description="`sum` or `mean` of the column per site and period, or `count` of lines."
    )

    @model_validator(mode="after")
    def _column_named(self) -> "Measure":
        if self.agg != "count" and not self.column:
            raise ValueError(f"`column` is required with `agg: {self.agg}`")
        return self


class RecordsSource(Source):
    """One line per transaction (orders, timesheet lines, invoices) with a date, aggregated to
    the client's grain per site."""

    layout: Literal["records"]
    site: Names = Field(description="Header(s) of the site column.", min_length=1)
    date: Names = Field(description="Header(s) of the date column.", min_length=1)
    date_format: Literal["dayfirst", "iso"] = Field(
        "dayfirst", description="How text dates are written: `31/01/2025` or `2025-01-31`."
    )
    measures: dict[KpiName, Measure] = Field(
        description="For each KPI, the column and the aggregation.", min_length=1
    )


AnySource = Annotated[
    SheetPerSiteSource | LongSource | WideSource | RecordsSource, Field(discriminator="layout")
]
LAYOUTS = ("sheet_per_site", "long", "wide", "records")


class Site(StrictModel):
    """A site of the client: its canonical name, the other names files use, its go-live."""

    name: str = Field(description="Canonical site name, as reports show it.", min_length=1)
    aliases: Names = Field(
        default_factory=list, description="Other spellings found in files (`St-Etienne`)."
    )
    go_live: dt.date | None = Field(
        None, description="Go-live date of this site; overrides the client's `go_live`."
    )
    control: bool = Field(
        False, description="A control site is never transformed: it has no go-live."
    )

    @model_validator(mode="after")
    def _control_has_no_go_live(self) -> "Site":
        if self.control and self.go_live is not None:
            raise ValueError(f"site {self.name!r} is a control site and cannot have a go_live")
        return self


class Recipients(StrictModel):
    """Who receives the report, as `Name <address>` or a bare address."""

    to: Names = Field(default_factory=list, description="Main recipients (client leadership).")
    cc: Names = Field(default_factory=list, description="Copied recipients.")
    bcc: Names = Field(default_factory=list, description="Blind-copied recipients.")

    @field_validator("to", "cc", "bcc")
    @classmethod
    def _addresses_valid(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _EMAIL.match(address.strip()):
                raise ValueError(f"{address!r} is not an email address")
        return value


class Report(StrictModel):
    """How the report reaches the client."""

    delivery: Literal["review", "auto"] = Field(
        "review",
        description="`review`: the consultant approves each report; `auto`: sent when checks pass.",
    )
    recipients: Recipients = Field(default_factory=Recipients)


class Bounds(StrictModel):
    """Plausible values of a KPI for this client, on top of the catalogue's."""

    min: float | None = Field(None, description="Smallest plausible value.")
    max: float | None = Field(None, description="Largest plausible value.")


class Quality(StrictModel):
    """How the client's deliveries are checked, beyond the rules every client gets."""

    bounds: dict[KpiName, Bounds] = Field(
        default_factory=dict,
        description="Extra bounds per KPI: a value outside them blocks the delivery.",
    )
    outlier_z: float = Field(
        5.0,
        gt=0,
        description="A value whose robust z-score against the site's own history exceeds this "
        "is flagged (a warning: a strike or water damage is real).",
    )
    late_after_days: int | None = Field(
        None,
        gt=0,
        description="Days after a period's end before the client is late (default: 45 for "
        "monthly, 14 for weekly).",
    )


class DerivedKpiSpec(StrictModel):
    """A derived KPI of this client only: `factor * numerator / denominator` of two base KPIs."""

    name: str = Field(
        description="Code of the KPI (lowercase letters, digits, underscores).",
        pattern=r"^[a-z][a-z0-9_]*$",
    )
    numerator: KpiName = Field(description="Base KPI summed on top.")
    denominator: KpiName = Field(description="Base KPI summed below.")
    factor: float = Field(1.0, description="Multiplier (100 for a percentage).")
    unit: str = Field("ratio", description="Display unit: `pct` for points, else free text.")
    direction: Literal["higher_is_better", "lower_is_better"] = Field(
        description="Which way is an improvement."
    )
    label_fr: str = Field(description="Label in French reports.", min_length=1)
    label_en: str = Field(description="Label in English reports.", min_length=1)
    family: Literal["productivity", "profitability"] = Field(
        "productivity", description="The report's section it belongs to."
    )


class Target(StrictModel):
    """A promised change of a KPI on the client as a whole, by a month."""

    kpi: str = Field(description="Base or derived KPI.")
    change_pct: float = Field(description="Promised change in percent (10 for +10 %).")
    by: str = Field(description="Month the change is due, as `YYYY-MM`.", pattern=r"^\d{4}-\d{2}$")

    @property
    def due(self) -> dt.date:
        """First day of the month the target is due."""
        year, month = (int(part) for part in self.by.split("-"))
        return dt.date(year, month, 1)

    @field_validator("by")
    @classmethod
    def _month_valid(cls, value: str) -> str:
        if not 1 <= int(value[5:]) <= 12:
            raise ValueError(f"{value!r} is not a month (expected YYYY-MM)")
        return value


class PriceIndex(StrictModel):
    """A price or wage index for a money KPI, given by its change over each calendar year."""

    yearly_change_pct: dict[int, float] = Field(
        description="Change of the index over each calendar year, in percent (`2024: 3.5`), "
        "spread evenly over its months; a year before the first given takes the first "
        "year's change, a year after the last the last year's.",
        min_length=1,
    )

    @field_validator("yearly_change_pct")
    @classmethod
    def _years_follow(cls, value: dict[int, float]) -> dict[int, float]:
        missing = sorted(set(range(min(value), max(value) + 1)) - set(value))
        if missing:
            raise ValueError(f"no change given for {', '.join(map(str, missing))}: give every year")
        return value


class Impact(StrictModel):
    """How the before/after comparison is made."""

    baseline_months: int = Field(
        24, ge=6, description="At most this many months before go-live form the baseline."
    )
    ramp_up_months: int = Field(
        0, ge=0, description="Months after go-live left out of the comparison (ramp-up)."
    )
    targets: list[Target] = Field(default_factory=list, description="Promised changes.")
    constant_prices: dict[KpiName, PriceIndex] = Field(
        default_factory=dict,
        description="Money KPIs compared at constant prices: each is divided by its index "
        "(1 at the first go-live) before any ratio or total, and reports say so.",
    )

    @field_validator("constant_prices")
    @classmethod
    def _money_only(cls, value: dict[str, PriceIndex]) -> dict[str, PriceIndex]:
        for kpi in value:
            if BASE_KPIS[kpi].unit != "eur":
                raise ValueError(f"{kpi} is not an amount in EUR: only money has a price index")
        return value


class ClientConfig(StrictModel):
    """One client's configuration: `CAP_HOME/clients/<slug>/client.yaml`."""

    name: str = Field(description="Display name of the client, as reports show it.", min_length=1)
    language: Literal["fr", "en"] = Field("fr", description="Language of reports and emails.")
    timezone: str = Field("Europe/Paris", description="IANA time zone of the client.")
    cadence: Literal["monthly", "weekly"] = Field(
        description="How often the client sends data; also the default grain of its KPIs."
    )
    go_live: dt.date | None = Field(
        None, description="Go-live date for every non-control site without its own."
    )
    sites: list[Site] = Field(description="The client's sites.", min_length=1)
    sources: list[AnySource] = Field(description="The files the client sends.", min_length=1)
    report: Report = Field(default_factory=Report)
    quality: Quality = Field(default_factory=Quality)
    derived_kpis: list[DerivedKpiSpec] = Field(
        default_factory=list, description="The client's own derived KPIs, beside the catalogue's."
    )
    impact: Impact = Field(default_factory=Impact)

    @field_validator("timezone")
    @classmethod
    def _timezone_known(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (expected e.g. 'Europe/Paris')"
            ) from None
        return value

    @model_validator(mode="after")
    def _sites_consistent(self) -> "ClientConfig":
        seen: dict[str, str] = {}
        for site in self.sites:
            for spelling in (site.name, *site.aliases):
                key = spelling.casefold().strip()
                if key in seen and seen[key] != site.name:
                    raise ValueError(
                        f"{spelling!r} names both site {seen[key]!r} and site {site.name!r}"
                    )
                if key in seen and spelling == site.name:
                    raise ValueError(f"site {site.name!r} is listed twice")
                seen[key] = site.name
            if not site.control and site.go_live is None and self.go_live is None:
                raise ValueError(
                    f"site {site.name!r} has no go_live: set one on the site, set the client's "
                    "go_live, or mark it `control: true`"
                )
        known = {*BASE_KPIS, *DERIVED_KPIS}
        for derived in self.derived_kpis:
            if derived.name in known:
                raise ValueError(f"derived KPI {derived.name!r} is already in the catalogue")
            known.add(derived.name)
        for target in self.impact.targets:
            if target.kpi not in known:
                close = difflib.get_close_matches(target.kpi, sorted(known), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"target on unknown KPI {target.kpi!r}{hint}")
        names = [source.name for source in self.sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique: {', '.join(duplicates)}")
        return self

    @property
    def grain(self) -> Literal["month", "week"]:
        """The client's default period grain, from its cadence."""
        return "week" if self.cadence == "weekly" else "month"

    def go_live_of(self, site: str) -> dt.date | None:
        """Go-live date of a site (None for a control site)."""
        for candidate in self.sites:
            if candidate.name == site:
                return None if candidate.control else candidate.go_live or self.go_live
        raise KeyError(site)
