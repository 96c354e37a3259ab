# The `bot serve` image. A first stage builds the project and its dependencies into a
# virtualenv; the image copies only that virtualenv, and runs as a non-root user (uid 10001)
# on a root filesystem that may be read-only: it writes nowhere but /tmp and the /data volume.
#
#   docker build -t bot .
#   docker run --read-only --tmpfs /tmp -p 8080:8080 -e BOT_REDIS_URL=redis://redis:6379/0 \
#       -e BOT_CAMS_RECEIPT_TOKEN_FILE=/run/secrets/cams_receipt_token ... bot
#
# docker-compose.yml runs it with Redis; docs/operations.md explains every setting.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN /opt/venv/bin/pip install . \
    && /opt/venv/bin/pip uninstall --yes pip

FROM python:3.11-slim
# A fixed uid and gid, so that volume and secret file ownership can be set on the host.
RUN groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid bot --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin bot \
    && mkdir /data \
    && chown bot:bot /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Example flows; mount your own over them (read-only is enough: they are only read).
COPY flows.yaml ./flows.yaml
COPY intents ./intents
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BOT_HOST=0.0.0.0 \
    BOT_PORT=8080 \
    BOT_LOG_FORMAT=json \
    BOT_DATA_DIR=/data \
    BOT_FLOWS=/app/flows.yaml \
    BOT_INTENTS=/app/intents
# Only the embedded Redis (BOT_REDIS_URL unset: not for production) writes here.
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8080
# SIGTERM drains: intake stops, in-flight steps and sends get BOT_DRAIN_SECONDS to finish.
# Give `docker stop -t` (compose: stop_grace_period) more than that.
STOPSIGNAL SIGTERM
# /healthz on loopback, over HTTPS (certificate not checked: it is loopback) when
# BOT_TLS_CERT is set. python's urllib: the slim image has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, ssl, urllib.request; tls = bool(os.environ.get('BOT_TLS_CERT')); ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE; url = ('https' if tls else 'http') + '://127.0.0.1:' + os.environ.get('BOT_PORT', '8080') + '/healthz'; urllib.request.urlopen(url, timeout=4, context=ctx if tls else None)"]
ENTRYPOINT ["bot"]
CMD ["serve"]
