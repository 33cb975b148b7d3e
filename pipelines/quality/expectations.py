"""Great Expectations suites built from the KPI catalogue and the client's configuration.

Nothing is written by hand per client: bounds come from each KPI's unit and plausible range
(plus the client's own `quality.bounds`), sites from `client.yaml`, the grain from its cadence.
Great Expectations is imported inside the functions that use it: importing it costs seconds, and
the Dagster code location must load fast.
"""

import datetime as dt
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipelines.catalogue import BASE_KPIS
from pipelines.config.model import ClientConfig
from pipelines.markdown import markdown_table

PLACE_COLUMNS = ["file", "sheet", "row", "column", "site", "period_start", "kpi", "value"]
KEY_COLUMNS = ["observation", "file_sha256"]
MAX_ROWS_SHOWN = 20
DELIVERY_KEY = "file_site_period_kpi"
"""One integer per (file, site, period, KPI), made by `prepare`: Great Expectations checks the
uniqueness of one integer column in a fifth of the time it takes on the four columns (on a
million values, 0.16 s of a 0.8 s validation)."""
BOUNDS = "bounds"
"""The kind of the per-KPI bounds rules: checked together by two Great Expectations pair
expectations against each row's own KPI bounds (one row-filtered expectation per KPI costs a
query over the whole frame each)."""


@dataclass(frozen=True)
class Rule:
    """One expectation: what it checks, in words, and how to build it in Great Expectations."""

    name: str
    description: str
    kind: str
    kwargs: dict[str, object]


@dataclass
class Failure:
    """A rule that did not hold, and the rows that broke it."""

    rule: Rule
    rows: pd.DataFrame


@dataclass
class Outcome:
    """The result of validating a frame against a list of rules."""

    rules: int
    failures: list[Failure] = field(default_factory=list)

    @property
    def success(self) -> bool:
        """True when every rule held."""
        return not self.failures

    @property
    def success_percent(self) -> float:
        """Share of the rules that held, in percent (100 when there was nothing to check)."""
        return 100.0 if not self.rules else 100.0 * (self.rules - len(self.failures)) / self.rules

    def failing_rows(self) -> pd.DataFrame:
        """Up to 20 failing rows, each with its place and the rule it broke."""
        frames = [failure.rows.assign(rule=failure.rule.description) for failure in self.failures]
        if not frames:
            return pd.DataFrame(columns=[*PLACE_COLUMNS, "rule"])
        return pd.concat(frames, ignore_index=True).head(MAX_ROWS_SHOWN)

    def metadata(self) -> dict[str, object]:
        """Check metadata: success percentage, failing rules, failing rows as markdown."""
        return {
            "success_percent": round(self.success_percent, 1),
            "rules_checked": self.rules,
            "failing_rules": [failure.rule.description for failure in self.failures],
            "failing_rows": markdown_table(self.failing_rows()),
        }


def delivery_rules(config: ClientConfig, kpis: set[str], today: dt.date) -> list[Rule]:
    """The blocking rules for newly delivered values: plausible bounds per KPI, known sites,
    the client's grain, no period after today, one value per site, period and KPI a file."""
    rules = [
        Rule(
            "sites_known",
            "site is one of client.yaml's sites",
            "ExpectColumnValuesToBeInSet",
            {"column": "site", "value_set": [site.name for site in config.sites]},
        ),
        Rule(
            "grain_is_clients",
            f"period grain is the client's ({config.grain})",
            "ExpectColumnValuesToBeInSet",
            {"column": "grain", "value_set": [config.grain]},
        ),
        Rule(
            "period_starts_its_period",
            "period_start is the first day of a month or a Monday",
            "ExpectColumnValuesToBeInSet",
            {"column": "period_is_aligned", "value_set": [True]},
        ),
        Rule(
            "period_not_in_future",
            f"period_start is not after today ({today:%Y-%m-%d})",
            "ExpectColumnValuesToBeInSet",
            {"column": f"period_on_or_before_{today:%Y%m%d}", "value_set": [True]},
        ),
        Rule(
            "one_value_per_site_period_kpi",
            "one value per site, period and KPI in a delivery",
            "ExpectColumnValuesToBeUnique",
            {"column": DELIVERY_KEY},
        ),
    ]
    for kpi in sorted(kpis):
        low, high, strict = _bounds(config, kpi)
        if low is None and high is None:
            continue
        shown = _describe_bounds(low, high, strict)
        rules.append(
            Rule(
                f"{kpi}_within_bounds",
                f"{kpi} {shown}",
                BOUNDS,
                {"kpi": kpi, "min_value": low, "max_value": high, "strict_min": strict},
            )
        )
    return rules


def validate(frame: pd.DataFrame, rules: list[Rule]) -> Outcome:
    """Run the rules on a frame of values with Great Expectations and say which failed, on
    which rows. Nothing to check imports nothing: a night without new deliveries does not pay
    Great Expectations' import (about 2 s)."""
    outcome = Outcome(rules=len(rules))
    if frame.empty or not rules:
        return outcome
    data, checked = _with_bounds(frame, rules)
    expectations = [(rule.kind, rule.kwargs) for rule in checked]
    results = _run_suite(data, expectations, "BOOLEAN_ONLY")
    if all(result.success for result in results):
        return outcome
    # Which rows broke a rule, asked only when one did: on a million values that pass, the row
    # lists cost a fifth of the validation.
    results = _run_suite(data, expectations, "COMPLETE")
    shown = [c for c in [*PLACE_COLUMNS, *KEY_COLUMNS] if c in data.columns]
    failing: dict[str, list[int]] = {}
    for rule, expectation in zip(checked, results, strict=True):
        if not expectation.success:
            indexes = expectation.result.get("unexpected_index_list") or []
            failing.setdefault(rule.name, []).extend(i for i in indexes if isinstance(i, int))
    for rule in rules:
        if rule.kind == BOUNDS:
            indexes = sorted(set(failing.get(BOUNDS, [])))
            rows = data.loc[indexes]
            rows = rows.loc[rows["kpi"] == rule.kwargs["kpi"], shown]
        else:
            rows = data.loc[failing.get(rule.name, []), shown]
        if not rows.empty:
            outcome.failures.append(Failure(rule, rows))
    return outcome


def profile_holds(profile: pd.DataFrame, rules: list[Rule], today: dt.date) -> bool:
    """True when every rule holds on a delivery profile (`select_delivery_profile.sql`: the
    distinct sites, periods and KPIs of each file, each KPI's lowest and highest value, the
    file's repeats), checked by Great Expectations. A rule holds on the profile exactly when it
    holds on every value, so a delivery whose profile holds needs no look at its values."""
    if profile["file_sha256"].isna().all() or not rules:
        return True  # no delivery: Great Expectations is not even imported
    data = prepare_profile(profile, today)
    data, checked = _with_bounds(data, rules)
    expectations = []
    for rule in checked:
        if rule.kind == "ExpectColumnValuesToBeUnique":
            expectations.append(
                ("ExpectColumnValuesToBeBetween", {"column": "repeats", "max_value": 0})
            )
        elif rule.kind == "ExpectColumnPairValuesAToBeGreaterThanB":
            # The lowest value against the low bound, the high bound against the highest.
            kwargs = dict(rule.kwargs)
            kwargs["column_A"] = {"value": "min_value"}.get(kwargs["column_A"], kwargs["column_A"])
            kwargs["column_B"] = {"value": "max_value"}.get(kwargs["column_B"], kwargs["column_B"])
            expectations.append((rule.kind, kwargs))
        else:
            expectations.append((rule.kind, rule.kwargs))
    return all(result.success for result in _run_suite(data, expectations, "BOOLEAN_ONLY"))


def _run_suite(
    data: pd.DataFrame, expectations: list[tuple[str, dict[str, object]]], result_format: str
) -> list:
    """The results of Great Expectations' expectations (class name, arguments) on `data`, in
    order: an ephemeral context, no progress bars, Great Expectations imported here."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("cap")
        .add_dataframe_asset("deliveries")
        .add_batch_definition_whole_dataframe("all")
    )
    suite = gx.ExpectationSuite(name="cap")
    for kind, kwargs in expectations:
        suite.add_expectation(getattr(gx.expectations, kind)(**kwargs))
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="cap", data=batch, suite=suite)
    )
    result = definition.run(
        batch_parameters={"dataframe": data}, result_format={"result_format": result_format}
    )
    return list(result.results)


def _with_bounds(frame: pd.DataFrame, rules: list[Rule]) -> tuple[pd.DataFrame, list[Rule]]:
    """The frame with each row's KPI bounds as columns, and the rules as Great Expectations
    checks them: the per-KPI bounds rules become two pair expectations."""
    data = frame.reset_index(drop=True)
    bounds = {rule.kwargs["kpi"]: rule.kwargs for rule in rules if rule.kind == BOUNDS}
    checked = [rule for rule in rules if rule.kind != BOUNDS]
    if not bounds:
        return data, checked
    kpis = data["kpi"].astype("category")
    lows, highs = [], []
    for kpi in kpis.cat.categories:
        entry = bounds.get(kpi, {})
        low = entry.get("min_value")
        low = -np.inf if low is None else float(low)
        if entry.get("strict_min"):
            low = np.nextafter(low, np.inf)  # `value >= next float` is `value > low`
        high = entry.get("max_value")
        lows.append(low)
        highs.append(np.inf if high is None else float(high))
    codes = kpis.cat.codes.to_numpy()  # -1 (no KPI: a profile's other rows) takes NaN
    data["kpi_min_value"] = np.asarray([*lows, np.nan])[codes]
    data["kpi_max_value"] = np.asarray([*highs, np.nan])[codes]
    for low, high in (("value", "kpi_min_value"), ("kpi_max_value", "value")):
        checked.append(
            Rule(
                BOUNDS,
                "value within its KPI's bounds",
                "ExpectColumnPairValuesAToBeGreaterThanB",
                {
                    "column_A": low,
                    "column_B": high,
                    "or_equal": True,
                    "ignore_row_if": "either_value_is_missing",
                },
            )
        )
    return data, checked


def prepare(frame: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    """Observations as the rules expect them: dates as timestamps, and the date tests computed
    once, vectorised (Great Expectations then asserts them; its own date comparisons are slow)."""
    data = frame.copy()
    for column in ("site", "grain", "kpi", "file_sha256", "file"):
        # few distinct values: categoricals make each rule cheap
        if column in data.columns and not isinstance(data[column].dtype, pd.CategoricalDtype):
            data[column] = data[column].astype("category")
    data["period_start"] = pd.to_datetime(data["period_start"])
    data[f"period_on_or_before_{today:%Y%m%d}"] = data["period_start"] <= pd.Timestamp(today)
    is_month_start = data["period_start"].dt.day == 1
    is_monday = data["period_start"].dt.dayofweek == 0
    data["period_is_aligned"] = (data["grain"].eq("month") & is_month_start) | (
        data["grain"].eq("week") & is_monday
    )
    data[DELIVERY_KEY] = combined_codes(data, ["file_sha256", "site", "period_start", "kpi"])
    return data


def prepare_profile(profile: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    """A delivery profile as the rules expect it: the date tests of its period rows, missing
    (not false) on its other rows, which Great Expectations then leaves aside."""
    data = profile.copy()
    for column in ("site", "grain", "kpi", "file_sha256"):
        data[column] = data[column].astype("category")
    periods = pd.to_datetime(data["period_start"])
    has_period = periods.notna()
    aligned = (data["grain"].eq("month") & periods.dt.day.eq(1)) | (
        data["grain"].eq("week") & periods.dt.dayofweek.eq(0)
    )
    for column, test in (
        (f"period_on_or_before_{today:%Y%m%d}", periods <= pd.Timestamp(today)),
        ("period_is_aligned", aligned),
    ):
        data[column] = pd.array(test.astype(bool), dtype="boolean")
        data.loc[~has_period, column] = pd.NA
    return data


def combined_codes(data: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One int64 per distinct combination of `columns`' values (equal rows, equal numbers)."""
    key, size = np.zeros(len(data), dtype=np.int64), 1
    for column in columns:
        codes, uniques = pd.factorize(data[column], use_na_sentinel=False)
        if size * len(uniques) >= 2**62:  # renumber the combinations seen: at most one a row
            key, seen = pd.factorize(key)
            size = len(seen)
        key, size = key * len(uniques) + codes, size * len(uniques)
    return key


def _bounds(config: ClientConfig, kpi: str) -> tuple[float | None, float | None, bool]:
    entry = BASE_KPIS[kpi]
    low, high, strict = entry.min_value, entry.max_value, entry.strictly_positive
    extra = config.quality.bounds.get(kpi)
    if extra is not None:
        low = extra.min if extra.min is not None else low
        high = extra.max if extra.max is not None else high
    return low, high, strict


def _describe_bounds(low: float | None, high: float | None, strict: bool) -> str:
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    if low is not None:
        return f"{'>' if strict else '>='} {low:g}"
    return f"<= {high:g}"
