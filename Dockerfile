# Runs `bot serve`. Redis comes from BOT_REDIS_URL (the embedded one is for development).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /app bot
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY --chown=root:root flows.yaml ./flows.yaml
COPY --chown=root:root intents ./intents
USER bot
ENV BOT_HOST=0.0.0.0 \
    BOT_PORT=8080 \
    BOT_DATA_DIR=/app/.data \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BOT_PORT', '8080'), timeout=2)"]
ENTRYPOINT ["bot"]
CMD ["serve"]
