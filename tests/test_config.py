"""Tests of `client.yaml` loading: values read, and the messages a consultant reads when wrong.

Each invalid case starts from a valid baseline, changes one thing, and checks the key path, the
line and the words that matter (expected values, the value given, the did-you-mean).
"""

import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from pipelines.config.loader import ConfigError, Problem, load_client_config
from pipelines.config.model import (
    ClientConfig,
    LongSource,
    Recipients,
    SheetPerSiteSource,
    Site,
    WideSource,
)

SLUG = "menuiseries-rhone"

BASELINE: dict[str, Any] = {
    "name": "Menuiseries du Rhône",
    "language": "fr",
    "timezone": "Europe/Paris",
    "cadence": "monthly",
    "go_live": dt.date(2025, 3, 1),
    "sites": [
        {"name": "Lyon", "aliases": ["LYON", "Lyon 7e"]},
        {"name": "Saint-Étienne", "aliases": "St-Etienne", "go_live": dt.date(2025, 5, 1)},
        {"name": "Grenoble", "control": True},
    ],
    "sources": [
        {
            "name": "finance",
            "layout": "wide",
            "pattern": ["Pack_*.xlsx"],
            "site_from": "fixed",
            "site": "Lyon",
            "rows": {"revenue_eur": "Chiffre d'affaires", "ebitda_eur": ["EBITDA", "EBE"]},
        },
        {
            "name": "production",
            "layout": "sheet_per_site",
            "pattern": "*.xlsx",
            "period": "Mois",
            "columns": {"units_produced": ["Unités", "Unites"], "hours_worked": "Heures"},
        },
        {
            "name": "rh",
            "layout": "long",
            "pattern": "RH_*.csv",
            "site": "Site",
            "period": "Période",
            "indicator": "Indicateur",
            "value": "Valeur",
            "indicators": {"ETP": "fte", "INT": "temp_workers"},
        },
    ],
    "report": {
        "delivery": "review",
        "recipients": {"to": ["Anne Martin <anne@menuiseries-rhone.fr>"], "cc": "ops@cap.fr"},
    },
}

LAYOUT_KEYS = ("period", "columns", "indicator", "indicators", "value", "site_from", "rows")
"""Keys that belong to one layout or two, never to every source."""


# --- helpers ---------------------------------------------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def _parent_and_key(config: dict[str, Any], path: str) -> tuple[Any, str | int]:
    """The container holding the last part of a dotted path (`sites.1.contrl`), and that part."""
    *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
    node: Any = config
    for part in parents:
        node = node[part]
    return node, last


def set_at(path: str, value: object) -> Edit:
    """An edit setting (or adding) the key at a dotted path such as `sites.1.contrl`."""

    def edit(config: dict[str, Any]) -> None:
        node, key = _parent_and_key(config, path)
        node[key] = value

    return edit


def drop_at(path: str) -> Edit:
    """An edit removing the key at a dotted path such as `sources.1.pattern`."""

    def edit(config: dict[str, Any]) -> None:
        node, key = _parent_and_key(config, path)
        del node[key]

    return edit


def config_text(*edits: Edit) -> str:
    """The baseline with `edits` applied, as the YAML text a consultant would write."""
    config = copy.deepcopy(BASELINE)
    for edit in edits:
        edit(config)
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def write_config(root: Path, text: str, slug: str = SLUG) -> Path:
    path = root / "clients" / slug / "client.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def config_error(root: Path, text: str, slug: str = SLUG) -> ConfigError:
    path = write_config(root, text, slug)
    with pytest.raises(ConfigError) as info:
        load_client_config(path)
    assert info.value.path == path
    return info.value


def only_problem(root: Path, text: str, slug: str = SLUG) -> Problem:
    error = config_error(root, text, slug)
    assert len(error.problems) == 1, str(error)
    return error.problems[0]


def line_of(text: str, needle: str) -> int:
    """1-based number of the only line of `text` containing `needle`."""
    found = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, f"{needle!r} found on lines {found}"
    return found[0]


# --- a valid configuration -------------------------------------------------------------------


def test_baseline_loads_with_values_read(tmp_path: Path) -> None:
    config = load_client_config(write_config(tmp_path, config_text()))

    assert config.name == "Menuiseries du Rhône"
    assert (config.language, config.timezone, config.cadence) == ("fr", "Europe/Paris", "monthly")
    assert config.grain == "month"
    assert type(config.go_live) is dt.date
    assert config.go_live == dt.date(2025, 3, 1)
    assert [site.name for site in config.sites] == ["Lyon", "Saint-Étienne", "Grenoble"]
    assert config.sites[0].aliases == ["LYON", "Lyon 7e"]
    assert config.sites[1].aliases == ["St-Etienne"]
    assert type(config.sites[1].go_live) is dt.date
    assert [site.control for site in config.sites] == [False, False, True]

    finance, production, rh = config.sources
    assert isinstance(finance, WideSource)
    assert isinstance(production, SheetPerSiteSource)
    assert isinstance(rh, LongSource)
    assert production.pattern == ["*.xlsx"]
    assert production.period == ["Mois"]
    assert production.columns == {
        "units_produced": ["Unités", "Unites"],
        "hours_worked": ["Heures"],
    }
    assert finance.pattern == ["Pack_*.xlsx"]
    assert (finance.site_from, finance.site) == ("fixed", "Lyon")
    assert finance.rows["revenue_eur"] == ["Chiffre d'affaires"]
    assert rh.indicators == {"ETP": "fte", "INT": "temp_workers"}
    assert config.report.delivery == "review"
    assert config.report.recipients.cc == ["ops@cap.fr"]


def test_go_live_of_site_overrides_client_and_control_site_has_none(tmp_path: Path) -> None:
    config = load_client_config(write_config(tmp_path, config_text()))

    assert config.go_live_of("Lyon") == dt.date(2025, 3, 1)  # the client's
    assert config.go_live_of("Saint-Étienne") == dt.date(2025, 5, 1)  # its own
    assert config.go_live_of("Grenoble") is None  # control
    with pytest.raises(KeyError):
        config.go_live_of("Marseille")


def test_dates_written_with_or_without_quotes_are_dates(tmp_path: Path) -> None:
    text = config_text()
    assert "go_live: 2025-03-01\n" in text  # as a consultant writes it
    text = text.replace("go_live: 2025-05-01", "go_live: '2025-05-01'")

    config = load_client_config(write_config(tmp_path, text))

    assert config.go_live == dt.date(2025, 3, 1)
    assert config.sites[1].go_live == dt.date(2025, 5, 1)


def test_weekly_cadence_gives_week_grain(tmp_path: Path) -> None:
    config = load_client_config(write_config(tmp_path, config_text(set_at("cadence", "weekly"))))

    assert config.grain == "week"


# --- the file itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        pytest.param(
            "name: Acme\ncadence: monthly\nsites: [Lyon, Grenoble\nsources: []\n",
            4,
            "expected ',' or ']'",
            id="unclosed-bracket",
        ),
        pytest.param(
            "name: Acme\ncadence: monthly\n  language: fr\n",
            3,
            "mapping values are not allowed here",
            id="bad-indentation",
        ),
        pytest.param(
            "name: Acme\nsites:\n  - name: Lyon\n   - name: Grenoble\n",
            4,
            "expected <block end>",
            id="bad-list-indentation",
        ),
        pytest.param(
            "name: Acme\n\tcadence: monthly\n", 2, "found character '\\t'", id="tab-indentation"
        ),
    ],
)
def test_invalid_yaml_names_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    problem = only_problem(tmp_path, text)

    assert problem.line == line
    assert problem.key_path == ""
    assert problem.message.startswith("invalid YAML: ")
    assert words in problem.message
    assert str(problem).startswith(f"line {line}, (top level): invalid YAML")


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing yet\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    problem = only_problem(tmp_path, text)

    assert (problem.key_path, problem.line, problem.message) == ("", None, "the file is empty")


@pytest.mark.parametrize(
    ("text", "got"),
    [("- name: Acme\n- cadence: monthly\n", "list"), ("Menuiseries du Rhône\n", "str")],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, got: str) -> None:
    problem = only_problem(tmp_path, text)

    assert problem.line == 1
    assert problem.message == f"expected a mapping of keys, got {got}"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "clients" / SLUG / "client.yaml"

    with pytest.raises(ConfigError) as info:
        load_client_config(path)

    assert [problem.message for problem in info.value.problems] == ["file not found"]
    assert str(info.value).startswith(f"{path}: 1 problem\n")


def test_file_not_utf8(tmp_path: Path) -> None:
    path = write_config(tmp_path, "")
    path.write_bytes("name: Société\n".encode("cp1252"))

    with pytest.raises(ConfigError) as info:
        load_client_config(path)

    assert info.value.problems[0].message.startswith("not UTF-8 text")


@pytest.mark.parametrize("slug", ["Acme Corp", "acme_corp", "ACME", "-acme", "menuiseries.rhone"])
def test_invalid_client_folder_name(tmp_path: Path, slug: str) -> None:
    problem = only_problem(tmp_path, config_text(), slug=slug)

    assert f"client folder name {slug!r} is not a valid slug" in problem.message
    assert "lowercase letters, digits and hyphens" in problem.message


@pytest.mark.parametrize("slug", ["acme", "menuiseries-rhone", "3f-logistique"])
def test_valid_client_folder_names(tmp_path: Path, slug: str) -> None:
    assert load_client_config(write_config(tmp_path, config_text(), slug=slug)).name


# --- unknown keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "key_path", "did_you_mean", "model", "layout_keys"),
    [
        pytest.param("languag", "languag", "language", ClientConfig, [], id="top-level"),
        pytest.param("sites.1.contrl", "sites[1].contrl", "control", Site, [], id="site"),
        pytest.param(
            "sources.0.rowz",
            "sources[0].rowz",
            "rows",
            WideSource,
            ["site_from", "site", "rows"],
            id="wide-source",
        ),
        pytest.param(
            "sources.1.rowz",
            "sources[1].rowz",
            None,  # `rows` is not a key of a sheet_per_site source
            SheetPerSiteSource,
            ["period", "columns"],
            id="sheet-per-site-source",
        ),
        pytest.param(
            "sources.2.indicator_codes",
            "sources[2].indicator_codes",
            "indicators",
            LongSource,
            ["site", "period", "indicator", "value", "indicators"],
            id="long-source",
        ),
        pytest.param(
            "report.recipients.too", "report.recipients.too", "to", Recipients, [], id="recipients"
        ),
        pytest.param("colour", "colour", None, ClientConfig, [], id="no-close-match"),
    ],
)
def test_unknown_key(
    tmp_path: Path,
    path: str,
    key_path: str,
    did_you_mean: str | None,
    model: type[BaseModel],
    layout_keys: list[str],
) -> None:
    key = path.rsplit(".", 1)[-1]
    text = config_text(set_at(path, ["x"]))  # value on the next line: the key's line is wanted

    problem = only_problem(tmp_path, text)

    assert problem.key_path == key_path
    assert problem.line == line_of(text, f"{key}:")
    assert problem.message.startswith(f"unknown key {key!r}")
    if did_you_mean:
        assert f"(did you mean {did_you_mean!r}?)" in problem.message
    else:
        assert "did you mean" not in problem.message
    # The keys of the model at that place: for a source, those of its layout.
    allowed = problem.message.split("; expected one of: ", 1)[1].split(", ")
    assert allowed == list(model.model_fields)
    assert set(layout_keys) <= set(allowed)
    assert not (set(LAYOUT_KEYS) - set(layout_keys)) & set(allowed)


# --- wrong values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "key_path", "needle", "words"),
    [
        pytest.param(
            set_at("sites", "Lyon"),
            "sites",
            "sites: Lyon",
            ["valid list", "got 'Lyon'"],
            id="sites",
        ),
        pytest.param(
            set_at("sites.2.control", "maybe"),
            "sites[2].control",
            "control: maybe",
            ["expected true or false", "got 'maybe'"],
            id="control",
        ),
        pytest.param(
            set_at("sources.1.pattern", []),
            "sources[1].pattern",
            "pattern: []",
            ["at least 1 item", "got []"],
            id="empty-pattern",
        ),
        pytest.param(
            set_at("report", "auto"),
            "report",
            "report: auto",
            ["valid dictionary", "got 'auto'"],
            id="report",
        ),
    ],
)
def test_wrong_type(
    tmp_path: Path, edit: Edit, key_path: str, needle: str, words: list[str]
) -> None:
    text = config_text(edit)

    problem = only_problem(tmp_path, text)

    assert problem.key_path == key_path
    assert problem.line == line_of(text, needle)
    for word in words:
        assert word in problem.message


@pytest.mark.parametrize(
    ("edit", "key_path", "needle", "message"),
    [
        pytest.param(
            drop_at("cadence"), "", "name: Menuiseries", "missing required key 'cadence'", id="top"
        ),
        pytest.param(
            drop_at("sources.1.pattern"),
            "sources[1]",
            "- name: production",
            "missing required key 'pattern'",
            id="source-pattern",
        ),
        pytest.param(
            drop_at("sources.2.indicators"),
            "sources[2]",
            "- name: rh",
            "missing required key 'indicators'",
            id="long-source-indicators",
        ),
        pytest.param(
            drop_at("sources.1.layout"),
            "sources[1]",
            "- name: production",
            "missing required key 'layout' (one of sheet_per_site, long, wide, records)",
            id="source-layout",
        ),
        pytest.param(
            drop_at("sites.0.name"),
            "sites[0]",
            "- aliases:",
            "missing required key 'name'",
            id="site",
        ),
    ],
)
def test_missing_required_key(
    tmp_path: Path, edit: Edit, key_path: str, needle: str, message: str
) -> None:
    text = config_text(edit)

    problem = only_problem(tmp_path, text)

    assert (problem.key_path, problem.message) == (key_path, message)
    assert problem.line == line_of(text, needle)


@pytest.mark.parametrize("value", ["2025-13-01", "next spring", "01/03/2025", "2025-03-01 08:00"])
@pytest.mark.parametrize(
    ("written", "key_path"),
    [("go_live: 2025-03-01", "go_live"), ("go_live: 2025-05-01", "sites[1].go_live")],
    ids=["client", "site"],
)
def test_go_live_not_a_date(tmp_path: Path, value: str, written: str, key_path: str) -> None:
    text = config_text().replace(written, f"go_live: {value}")  # unquoted, as typed

    problem = only_problem(tmp_path, text)

    assert problem.key_path == key_path
    assert problem.line == line_of(text, f"go_live: {value}")
    assert problem.message == f"expected a date like 2025-03-01, got {value!r}"


@pytest.mark.parametrize(
    ("path", "value", "key_path", "expected", "did_you_mean"),
    [
        pytest.param(
            "sources.1.layout",
            "sheet_per_sites",
            "sources[1].layout",
            "'sheet_per_site', 'long', 'wide', 'records'",
            "sheet_per_site",
            id="layout",
        ),
        pytest.param(
            "sources.2.layout",
            "tall",
            "sources[2].layout",
            "'sheet_per_site', 'long', 'wide', 'records'",
            None,
            id="layout-no-close-match",
        ),
        pytest.param("language", "de", "language", "'fr', 'en'", None, id="language"),
        pytest.param("language", "french", "language", "'fr', 'en'", None, id="language-word"),
        pytest.param(
            "cadence", "monthy", "cadence", "'monthly', 'weekly'", "monthly", id="cadence"
        ),
        pytest.param(
            "sources.1.delimiter",
            "|",
            "sources[1].delimiter",
            "'auto', ';', ',', 'tab'",
            None,
            id="delimiter",
        ),
        pytest.param(
            "report.delivery",
            "automatic",
            "report.delivery",
            "'review', 'auto'",
            "auto",
            id="delivery",
        ),
    ],
)
def test_value_not_among_choices(
    tmp_path: Path,
    path: str,
    value: str,
    key_path: str,
    expected: str,
    did_you_mean: str | None,
) -> None:
    text = config_text(set_at(path, value))

    problem = only_problem(tmp_path, text)

    assert problem.key_path == key_path
    written = yaml.safe_dump({path.rsplit(".", 1)[-1]: value}).strip()  # `delimiter: '|'`
    assert problem.line == line_of(text, written)
    assert f"expected one of {expected}, got {value!r}" in problem.message
    if did_you_mean:
        assert problem.message.endswith(f"(did you mean {did_you_mean!r}?)")
    else:
        assert "did you mean" not in problem.message


def test_empty_layout_says_what_was_given(tmp_path: Path) -> None:
    text = config_text(set_at("sources.1.layout", None))

    problem = only_problem(tmp_path, text)

    assert problem.key_path == "sources[1].layout"
    assert problem.line == line_of(text, "layout: null")
    assert (
        problem.message == "expected one of 'sheet_per_site', 'long', 'wide', 'records', got None"
    )


@pytest.mark.parametrize(
    ("path", "mapping", "key_path", "bad", "hint"),
    [
        pytest.param(
            "sources.1.columns",
            {"hours_worked": "Heures", "revenu_eur": "CA"},
            "sources[1].columns.revenu_eur",
            "revenu_eur",
            "(did you mean 'revenue_eur'?)",
            id="columns",
        ),
        pytest.param(
            "sources.0.rows",
            {"bananas": "Bananes"},
            "sources[0].rows.bananas",
            "bananas",
            "(see the KPI catalogue in README)",
            id="rows",
        ),
        pytest.param(
            "sources.1.scale",
            {"revenue": 1000},
            "sources[1].scale.revenue",
            "revenue",
            "(did you mean 'revenue_eur'?)",
            id="scale",
        ),
        pytest.param(
            "sources.2.indicators",
            {"ETP": "ftee"},
            "sources[2].indicators.ETP",
            "ftee",
            "(did you mean 'fte'?)",
            id="indicators",
        ),
    ],
)
def test_unknown_kpi(
    tmp_path: Path, path: str, mapping: dict[str, object], key_path: str, bad: str, hint: str
) -> None:
    # The problem names the entry itself: its key path and its own line.
    text = config_text(set_at(path, mapping))

    problem = only_problem(tmp_path, text)

    assert problem.key_path == key_path
    entry = next(key for key, value in mapping.items() if bad in (key, value))
    assert problem.line == line_of(text, f"{entry}: ")
    assert problem.message == f"unknown KPI {bad!r} {hint}"


@pytest.mark.parametrize("zone", ["Europe/Pariss", "Paris", "CET+1"])
def test_invalid_time_zone(tmp_path: Path, zone: str) -> None:
    text = config_text(set_at("timezone", zone))

    problem = only_problem(tmp_path, text)

    assert problem.key_path == "timezone"
    assert problem.line == line_of(text, "timezone:")
    assert problem.message == f"unknown time zone {zone!r} (expected e.g. 'Europe/Paris')"


@pytest.mark.parametrize(
    ("field", "address"),
    [
        ("to", "anne.martin"),
        ("to", "Anne Martin <anne@menuiseries-rhone>"),
        ("cc", "ops at cap.fr"),
        ("bcc", "Anne <anne@x.fr"),
        ("bcc", "anne@x.fr>"),
    ],
)
def test_bad_email_address(tmp_path: Path, field: str, address: str) -> None:
    text = config_text(set_at(f"report.recipients.{field}", [address, "ok@cap.fr"]))

    problem = only_problem(tmp_path, text)

    assert problem.key_path == f"report.recipients.{field}"
    assert problem.line == line_of(text, address)
    assert problem.message == f"{address!r} is not an email address"


# --- consistency between keys ----------------------------------------------------------------


def test_site_without_any_go_live(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, config_text(drop_at("go_live")))

    assert problem.message.startswith("site 'Lyon' has no go_live")
    assert "mark it `control: true`" in problem.message


def test_every_site_with_its_own_go_live_needs_no_client_go_live(tmp_path: Path) -> None:
    text = config_text(drop_at("go_live"), set_at("sites.0.go_live", dt.date(2025, 4, 1)))

    config = load_client_config(write_config(tmp_path, text))

    assert config.go_live is None
    assert config.go_live_of("Lyon") == dt.date(2025, 4, 1)


def test_control_site_with_go_live(tmp_path: Path) -> None:
    text = config_text(set_at("sites.2.go_live", dt.date(2025, 1, 1)))

    problem = only_problem(tmp_path, text)

    assert problem.key_path == "sites[2]"
    assert problem.line == line_of(text, "- name: Grenoble")
    assert problem.message == "site 'Grenoble' is a control site and cannot have a go_live"


@pytest.mark.parametrize(
    ("alias", "first"),
    [("St-Etienne", "Saint-Étienne"), ("lyon", "Lyon"), ("Saint-Étienne ", "Saint-Étienne")],
)
def test_alias_naming_two_sites(tmp_path: Path, alias: str, first: str) -> None:
    problem = only_problem(tmp_path, config_text(set_at("sites.2.aliases", [alias])))

    assert problem.message == f"{alias!r} names both site {first!r} and site 'Grenoble'"


def test_site_listed_twice(tmp_path: Path) -> None:
    text = config_text(lambda config: config["sites"].append({"name": "Lyon"}))

    problem = only_problem(tmp_path, text)

    assert problem.message == "site 'Lyon' is listed twice"


def test_duplicate_source_names(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, config_text(set_at("sources.2.name", "production")))

    assert problem.message == "source names must be unique: production"


def test_wide_source_fixed_without_site(tmp_path: Path) -> None:
    text = config_text(drop_at("sources.0.site"))

    problem = only_problem(tmp_path, text)

    assert problem.key_path == "sources[0]"
    assert problem.line == line_of(text, "- name: finance")
    assert problem.message == "`site` is required when `site_from` is `fixed`"


def test_wide_source_by_sheet_with_site(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, config_text(set_at("sources.0.site_from", "sheet")))

    assert problem.key_path == "sources[0]"
    assert problem.message == "`site` is only allowed when `site_from` is `fixed`"


# --- several problems ------------------------------------------------------------------------


def test_all_problems_reported_sorted_by_line(tmp_path: Path) -> None:
    # `cadence` moved to the end of the file: pydantic reports in field order, Cap by line.
    text = config_text(
        set_at("languag", "en"),
        set_at("sources.1.rowz", {}),
        lambda config: config.update(cadence=config.pop("cadence")),
        set_at("cadence", "daily"),
        set_at("sites.1.contrl", True),
        set_at("timezone", "Mars/Olympus"),
    )

    error = config_error(tmp_path, text)

    assert [(problem.key_path, problem.line) for problem in error.problems] == [
        ("timezone", 3),
        ("sites[1].contrl", line_of(text, "contrl:")),
        ("sources[1].rowz", line_of(text, "rowz:")),
        ("languag", line_of(text, "languag:")),
        ("cadence", line_of(text, "cadence:")),
    ]
    lines = str(error).splitlines()
    assert lines[0] == f"{error.path}: 5 problems"
    assert lines[1:] == [f"  {problem}" for problem in error.problems]
    assert lines[-1] == (
        f"  line {line_of(text, 'cadence:')}, cadence: "
        "expected one of 'monthly', 'weekly', got 'daily'"
    )


def test_a_key_given_twice_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    text = config_text().replace("cadence: monthly\n", "cadence: monthly\ncadence: weekly\n")

    problem = only_problem(tmp_path, text)

    assert problem.line == line_of(text, "cadence: weekly")
    assert "key 'cadence' is given twice (first on line" in problem.message
