# Prometheus from Debian's package on the lab's base (docker/images.sh copies this file next to
# the .deb files it downloads and builds with --network=none).
FROM python:3.11-slim-bookworm
COPY *.deb /tmp/debs/
RUN dpkg -i /tmp/debs/*.deb && rm -rf /tmp/debs && prometheus --version
USER prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
