# videobot: one process serving Slack and/or Discord plus the worker; the ledger lives on /data.
# tests/test_docker.py runs this file's ENTRYPOINT, CMD and HEALTHCHECK with its ENV.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIDEOBOT_DATA_DIR=/data \
    VIDEOBOT_METRICS_PORT=9100 \
    VIDEOBOT_METRICS_HOST=0.0.0.0

WORKDIR /app

# Dependencies first, in their own layer: the exact versions and hashes CI tested
# (requirements.lock, made by `make lock`), so code edits reuse the layer and nothing drifts.
# The build backend is locked too (requirements-build.lock): the project's own install below
# builds with it, not with whatever setuptools is newest that day.
COPY requirements.lock requirements-build.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock -r requirements-build.lock

# The code, installed in place (no dependency resolution): `videobot doctor` reads
# slack-manifest.yml beside the packages.
COPY pyproject.toml README.md slack-manifest.yml ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
RUN pip install --no-deps --no-build-isolation --editable .

RUN useradd --create-home --no-log-init --uid 10001 videobot \
    && mkdir -p /data \
    && chown videobot:videobot /data
USER videobot
VOLUME ["/data"]

# 9100: /metrics and /healthz. 3000: Slack HTTP mode (/slack/events), unused in Socket Mode.
EXPOSE 9100 3000

# Worker liveness and the ledger, through /healthz (no proxy: the probe is local). It needs
# VIDEOBOT_METRICS_PORT; with metrics off, use `videobot doctor --offline` instead (compose.yaml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.build_opener(r.ProxyHandler({})).open('http://127.0.0.1:' + os.environ.get('VIDEOBOT_METRICS_PORT', '9100') + '/healthz', timeout=4)"]

# Exec form: SIGTERM reaches Python (PID 1), which stops taking commands, gives in-flight
# steps 3 s to finish and exits within 10 s; live tasks resume at the next start.
ENTRYPOINT ["videobot"]
CMD ["run"]
