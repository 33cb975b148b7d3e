"""The workspace's own settings, `CAP_HOME/settings.yaml`: the limits every workbook is held to
before it is parsed. Plain data, read by the ingest stage and checked by `cap check-config`.
"""

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from pipelines.config.loader import ConfigError, Problem


class WorkbookLimits(BaseModel):
    """The `limits:` section of the workspace's `settings.yaml`, for xlsx, xlsm and ods files.

    The defaults keep the parse of any workbook that passes under about 1.1 GB of memory
    (measured: README, "Hostile and broken inputs").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_uncompressed_mb: int = Field(
        200, gt=0, description="all parts inflated, and the text of the cells, in MB"
    )
    max_compression_ratio: int = Field(
        100, gt=0, description="inflated to compressed size, per part and overall"
    )
    max_entries: int = Field(10_000, gt=0, description="parts (files) in the zip container")
    max_cells: int = Field(
        2_000_000, gt=0, description="cells of all sheets, counting the rectangle each spans"
    )


SETTINGS_FILE_NAME = "settings.yaml"


class Settings(BaseModel):
    """The workspace's own settings, `CAP_HOME/settings.yaml` (optional: defaults when absent).

    ```yaml
    limits:                       # xlsx, xlsm and ods files, checked before they are parsed
      max_uncompressed_mb: 200    # all parts of the zip inflated, and the cells' text
      max_compression_ratio: 100  # inflated to compressed, per part and overall
      max_entries: 10000          # parts in the zip
      max_cells: 2000000          # cells of all sheets, as the rectangle each spans
    ```
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    limits: WorkbookLimits = WorkbookLimits()


def load_settings(home: Path) -> Settings:
    """The validated `settings.yaml` of the workspace at `home` (`CAP_HOME`), or the defaults
    when there is none; raise `ConfigError` naming each problem (unknown key, value out of
    range)."""
    path = home / SETTINGS_FILE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [Problem("", None, f"cannot be read: {exc}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [Problem("", line, f"invalid YAML: {problem}")]) from None
    if data is None:
        return Settings()
    if not isinstance(data, dict):
        raise ConfigError(
            path, [Problem("", None, f"expected a mapping of keys, got {type(data).__name__}")]
        )
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [_settings_problem(error) for error in exc.errors()]) from None


def _settings_problem(error: ErrorDetails) -> Problem:
    loc = [str(part) for part in error["loc"]]
    key_path = ".".join(loc)
    if error["type"] == "extra_forbidden":
        section: type[BaseModel] = Settings
        for part in loc[:-1]:
            section = section.model_fields[part].annotation  # type: ignore[assignment]
        allowed = ", ".join(section.model_fields)
        return Problem(key_path, None, f"unknown key {loc[-1]!r}; expected one of: {allowed}")
    return Problem(key_path, None, f"{error['msg']}, got {error.get('input')!r}")
