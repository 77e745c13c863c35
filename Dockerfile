# syntax=docker/dockerfile:1
# The production image: the locked dependencies in a virtualenv plus the app, run as a
# non-root user by gunicorn. The release step is the same image with another command:
#   docker run --rm -e DATABASE_URL=... IMAGE flask --app app release run
#
# Build:  docker build --build-arg APP_RELEASE="$(git rev-parse HEAD)" -t barah .
# Behind a TLS-intercepting proxy, hand its CA to the build (it never lands in a layer):
#   docker build --secret id=extra_ca,src=/path/to/ca.pem ...
#
# BASE_IMAGE must provide python3 (3.11+) with the venv module; both stages use it so the
# virtualenv's interpreter path is the same at build and at run time.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS builder

ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

# uv comes from PyPI, into a virtualenv of its own that stays in this stage.
RUN --mount=type=secret,id=extra_ca \
    if [ -s /run/secrets/extra_ca ]; then export PIP_CERT=/run/secrets/extra_ca; fi \
    && python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"

# EXTRAS=observability adds OpenTelemetry and Sentry, for an image that traces or reports
# errors (OTEL_EXPORTER_OTLP_ENDPOINT, SENTRY_DSN); without it, setting either refuses to start.
ARG EXTRAS=""

WORKDIR /src
COPY pyproject.toml uv.lock ./
# The virtualenv is made with the base image's own python3 (/usr/local/bin on the official
# image, /usr/bin on Debian's), and uv installs exactly what uv.lock pins into it.
RUN --mount=type=secret,id=extra_ca \
    if [ -s /run/secrets/extra_ca ]; then export SSL_CERT_FILE=/run/secrets/extra_ca; fi \
    && python3 -m venv --without-pip /opt/venv \
    && /opt/uv/bin/uv sync --frozen --no-dev --no-install-project --no-cache \
        ${EXTRAS:+--extra "$EXTRAS"}


FROM ${BASE_IMAGE}

ARG APP_RELEASE=""
LABEL org.opencontainers.image.title="barah" \
      org.opencontainers.image.description="A production-grade Flask API template that follows the twelve-factor app." \
      org.opencontainers.image.revision="${APP_RELEASE}" \
      org.opencontainers.image.version="${APP_RELEASE}"

# HOME is the user's own writable folder, for tools that keep state there.
ENV PATH="/opt/venv/bin:${PATH}" \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/app \
    APP_ENV=production \
    APP_RELEASE="${APP_RELEASE}" \
    HOST=0.0.0.0 \
    PORT=8000

RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --no-log-init --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY pyproject.toml gunicorn.conf.py ./
COPY migrations/ migrations/
COPY app/ app/
# The code stays root-owned and read-only to the app user; only instance/ (the default
# SQLite database's folder, for trying the image without a database server) is writable.
RUN python3 -m compileall -q app migrations gunicorn.conf.py \
    && install -d -o 10001 -g 10001 instance

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["gunicorn", "--config", "gunicorn.conf.py"]
