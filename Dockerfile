# One image for every dnslab component; compose.yaml picks the subcommand.
FROM python:3.11-slim
WORKDIR /opt/dnslab
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY authoritative ./authoritative
COPY resolver ./resolver
COPY regions ./regions
COPY healthcheck ./healthcheck
COPY lab ./lab
COPY zones ./zones
COPY scenarios ./scenarios
COPY observability ./observability
RUN pip install --no-cache-dir --no-deps .
ENTRYPOINT ["dnslab"]
