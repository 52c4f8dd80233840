# videobot: one process serving Slack and/or Discord plus the worker; the ledger lives on /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIDEOBOT_DATA_DIR=/data

WORKDIR /app

# Dependencies first, in their own layer: code edits do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir bot adapters storage && touch bot/__init__.py adapters/__init__.py storage/__init__.py \
    && pip install . && pip uninstall -y videobot

COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
RUN pip install --no-deps .

RUN useradd --create-home --uid 10001 videobot && mkdir -p /data && chown videobot /data
USER videobot
VOLUME ["/data"]

# Exec form: SIGTERM reaches Python, which finishes in-flight writes and exits; live tasks
# resume at the next start.
ENTRYPOINT ["videobot"]
CMD ["run"]
