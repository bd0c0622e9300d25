# syntax=docker/dockerfile:1
# Build: wheels in a throwaway stage, so the runtime image has no compiler and no pip cache.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ingestd ingestd
COPY schema schema
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
# The embedded PostgreSQL refuses to run as root: the whole image runs as this user.
RUN useradd --system --uid 10001 --home-dir /data --create-home ingestd
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER ingestd
ENV INGESTD_HOST=0.0.0.0 \
    INGESTD_PORT=8080 \
    INGESTD_DATA_DIR=/data \
    INGESTD_LOG_FORMAT=json \
    XDG_RUNTIME_DIR=/tmp
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
# Docker's default grace period is 10 s; ingestd's shutdown budget (8 s) fits inside it.
STOPSIGNAL SIGTERM
CMD ["ingestd", "serve"]
