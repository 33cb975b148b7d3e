"""Settings every test shares."""

import os
from collections.abc import Iterator

import pytest

from pipelines.delivery.smtp import MAIL_ENV_VARS


@pytest.fixture(autouse=True, scope="session")
def email_to_outbox() -> Iterator[None]:
    """No SMTP server unless a test sets one: the mail variables exist, empty (the Dagster
    resource reads them with `dg.EnvVar`), so every email goes to the workspace's outbox."""
    saved = {name: os.environ.get(name) for name in MAIL_ENV_VARS}
    for name in MAIL_ENV_VARS:
        os.environ[name] = ""
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
