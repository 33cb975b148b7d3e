# Cap's code location: the gRPC code server the Dagster webserver and daemon load Cap from, and
# the image of every run's pod under the K8sRunLauncher (README, "Deploying for a firm").
#   docker build -t cap-code:latest .
FROM python:3.11-slim-bookworm

# uv, the version the Makefile bootstraps, from PyPI.
RUN pip install --no-cache-dir "uv==0.13.9"

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/cap/.venv \
    PATH=/opt/cap/.venv/bin:$PATH \
    DAGSTER_DISABLE_TELEMETRY=1 \
    CAP_HOME=/cap

WORKDIR /opt/cap

# The locked dependencies first (a layer that changes only with uv.lock), then Cap itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY pipelines ./pipelines
COPY sql ./sql
COPY reports ./reports
RUN uv sync --frozen --no-dev

# CAP_HOME (warehouses, archive, reports, outbox) is a volume every pod shares; DAGSTER_HOME
# holds the deployment's dagster.yaml (mounted, or the Helm chart's ConfigMap).
RUN useradd --create-home --uid 10001 cap && mkdir -p /cap && chown cap /cap
USER cap
EXPOSE 4000

CMD ["dagster", "api", "grpc", "-m", "pipelines.definitions", "-h", "0.0.0.0", "-p", "4000"]
