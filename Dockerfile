# Kinetic daemon image: `kinetic run` with the server profile (PostgreSQL journal).
# Built by docker-compose.server.yml; the data dir (tokens, lock) is the /var/lib/kinetic volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system kinetic && useradd --system --gid kinetic --home /var/lib/kinetic kinetic

WORKDIR /opt/kinetic
COPY pyproject.toml README.md ./
COPY runtime ./runtime
COPY agents ./agents
COPY adapters ./adapters
COPY control_api ./control_api
COPY bench ./bench
COPY config ./config
RUN pip install . && mkdir -p /var/lib/kinetic && chown kinetic:kinetic /var/lib/kinetic

USER kinetic
VOLUME ["/var/lib/kinetic"]
# The control API listens on loopback inside the container unless the compose file allows more.
EXPOSE 8787
STOPSIGNAL SIGTERM
ENTRYPOINT ["kinetic", "--data-dir", "/var/lib/kinetic", "--log-format", "json"]
CMD ["--config", "config/server.toml", "run"]
