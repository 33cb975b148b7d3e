"""Loggers: the short progress lines `cap run` prints while a client's run goes on."""

import logging
import sys
import time

import dagster as dg

_SHOWN = {"STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "ASSET_CHECK_EVALUATION"}


class _ProgressHandler(logging.Handler):
    """Turns Dagster's step and check events into one line each."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self._started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        kind = getattr(event, "event_type_value", None)
        if kind not in _SHOWN:
            return
        step = event.step_key or ""
        if kind == "STEP_START":
            self._started[step] = time.perf_counter()
            return
        if kind == "ASSET_CHECK_EVALUATION":
            evaluation = event.asset_check_evaluation_data
            if not evaluation.passed:
                severity = getattr(evaluation.severity, "value", "")
                line = f"    ! check {evaluation.check_name} failed ({severity})"
                _write(line)
            return
        seconds = time.perf_counter() - self._started.get(step, time.perf_counter())
        mark = "ok" if kind == "STEP_SUCCESS" else "FAILED"
        _write(f"    {mark:<6} {step} ({seconds:.1f} s)")


@dg.logger(description="One line per finished step and per failed check, for `cap run`.")
def cap_progress(init_context: dg.InitLoggerContext) -> logging.Logger:
    """Progress lines on standard output, used by `cap run` instead of the console logger."""
    progress = logging.getLogger(f"cap.progress.{init_context.run_id}")
    progress.setLevel(logging.DEBUG)
    progress.propagate = False
    progress.handlers = [_ProgressHandler()]
    return progress


def _write(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
