# One image for every dnslab component; compose.yaml picks the subcommand.
# Built by `make images` with --network=none: the wheels come from build/wheelhouse (downloaded
# on the host), the base from Debian via mmdebstrap under the public name (docs/containers.md).
FROM python:3.11-slim-bookworm AS build
COPY . /src
RUN python3 -m venv /opt/dnslab \
    && /opt/dnslab/bin/pip install --no-cache-dir --disable-pip-version-check --no-index \
        --find-links /src/build/wheelhouse -c /src/requirements.lock /src

FROM python:3.11-slim-bookworm
# tc (netem faults) and ip: in the mmdebstrap base already; the public image needs iproute2
RUN command -v tc >/dev/null || (apt-get update && apt-get install -y --no-install-recommends \
        iproute2 && rm -rf /var/lib/apt/lists/*)
COPY --from=build /opt/dnslab /opt/dnslab
# DNSLAB_CONTAINER: no per-container default lab secret (it would match no other container);
# a missing --secret-file is an error (lab/auth.py, docs/security.md)
ENV PATH=/opt/dnslab/bin:$PATH PYTHONUNBUFFERED=1 DNSLAB_CONTAINER=1
WORKDIR /srv/dnslab
ENTRYPOINT ["dnslab"]
