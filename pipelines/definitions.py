"""The one Dagster `Definitions` of Cap: what the UI, the schedules, the sensors and `cap run`
all load."""

import dagster as dg

from pipelines.defs.consultant.assets import consultant_digest
from pipelines.defs.consultant.jobs import consultant_digest_job
from pipelines.defs.delivery.assets import report_email
from pipelines.defs.delivery.sensors import auto_delivery_sensor
from pipelines.defs.impact.assets import impact
from pipelines.defs.ingest.assets import kpi_observations, raw_files
from pipelines.defs.jobs import client_pipeline, report_delivery
from pipelines.defs.kpis.assets import kpi_series, kpi_values
from pipelines.defs.loggers import cap_progress
from pipelines.defs.quality.checks import (
    kpi_observations_pass_delivery_rules,
    kpi_values_are_complete,
    kpi_values_are_fresh,
    kpi_values_have_no_outliers,
)
from pipelines.defs.report.assets import report
from pipelines.defs.resources import CapWorkspace, mailer_from_env
from pipelines.defs.schedules import daily_digest_0700_paris, nightly_client_runs
from pipelines.defs.sensors import (
    client_inbox_sensor,
    dead_runs_sensor,
    run_failure_alert_sensor,
)

defs = dg.Definitions(
    assets=[
        raw_files,
        kpi_observations,
        kpi_values,
        kpi_series,
        impact,
        report,
        report_email,
        consultant_digest,
    ],
    asset_checks=[
        kpi_observations_pass_delivery_rules,
        kpi_values_have_no_outliers,
        kpi_values_are_fresh,
        kpi_values_are_complete,
    ],
    jobs=[client_pipeline, report_delivery, consultant_digest_job],
    schedules=[nightly_client_runs, daily_digest_0700_paris],
    sensors=[auto_delivery_sensor, client_inbox_sensor, dead_runs_sensor, run_failure_alert_sensor],
    resources={"cap": CapWorkspace(home=dg.EnvVar("CAP_HOME")), "mailer": mailer_from_env()},
    loggers={"console": dg.colored_console_logger, "cap_progress": cap_progress},
)
