"""Which sites a report chart shows: all of them, or the best and weakest of many."""

from pipelines.catalogue import DERIVED_KPIS
from pipelines.report.content import KeyResult
from pipelines.report.figures import SITE_SERIES_SHOWN, _sites_shown


def _key(changes: list[float], kpi: str = "units_per_hour") -> KeyResult:
    sites = [
        {"site": f"Dépôt {number:03d}", "basis": "relative", "rel_change_pct": change}
        for number, change in enumerate(changes, start=1)
    ]
    return KeyResult(DERIVED_KPIS[kpi], None, sites)


def test_a_few_sites_are_all_shown_under_the_plain_title() -> None:
    key = _key([5.0, -2.0, 12.0])
    sites, title = _sites_shown(key, SITE_SERIES_SHOWN, "fr", "chart_site_series", "Productivité")
    assert sites == key.sites
    assert title == "Productivité – évolution par site"


def test_many_sites_show_the_best_and_the_weakest_half_in_site_order() -> None:
    changes = [float(number % 37) for number in range(100)]  # 0..36, repeated
    key = _key(changes)
    sites, title = _sites_shown(key, 12, "en", "chart_site_series", "Units per hour")
    assert title == "Units per hour – the 6 best and 6 weakest of 100 sites"
    shown = [float(site["rel_change_pct"]) for site in sites]
    assert sorted(shown, reverse=True)[:6] == [36.0, 36.0, 35.0, 35.0, 34.0, 34.0]
    assert sorted(shown)[:6] == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    numbers = [int(str(site["site"]).split()[1]) for site in sites]
    assert numbers == sorted(numbers)  # the client's site order, not the ranking's


def test_lower_is_better_ranks_the_other_way() -> None:
    key = _key([float(change) for change in range(30)], kpi="cost_per_parcel_eur")
    sites, _title = _sites_shown(key, 4, "fr", "chart_sites", "Coût par colis")
    assert [site["rel_change_pct"] for site in sites] == [0.0, 1.0, 28.0, 29.0]
