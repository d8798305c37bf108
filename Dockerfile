# possync-broker (and the `possync` command) on Debian 12.
#
#   docker build -t possync-broker .
#   docker run -p 8080:8080 -e POSSYNC_ADMIN_TOKEN=$(openssl rand -hex 32) \
#     -v possync-data:/var/lib/possync possync-broker            # SQLite, one node
#   docker run … -e POSSYNC_STORE=postgresql://possync@db:5432/possync \
#     -e PGPASSWORD=… possync-broker --node-id node-1             # a cluster node
#
# Configuration: POSSYNC_LISTEN, POSSYNC_STORE and POSSYNC_ADMIN_TOKEN from the
# environment, every other option as arguments (the entrypoint is the broker;
# see `docker run --rm possync-broker --help`). The image holds no token: give
# the admin token at run time (every node of a cluster the same one).
# docker-compose.yml runs PostgreSQL, two nodes and HAProxy; README.md,
# "Production and clusters", says how it behaves.

# Build stage: the packages of scripts/setup.sh (its build list, without
# ccache), then scripts/build.sh for the two programs only, tests off.
# libhiredis-dev is for bench/ (configured, not built, here): the image's
# programs do not link it.
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config libboost1.81-dev rapidjson-dev \
      libsqlite3-dev libssl-dev libpqxx-dev prometheus-cpp-dev libhiredis-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# RelWithDebInfo (the build type the tests run) with the debug info stripped
# afterwards: the tested code, a smaller image.
RUN POSSYNC_TARGETS="possync-broker possync" scripts/build.sh build -DPOSSYNC_TESTS=OFF \
 && strip --strip-debug build/broker/possync-broker build/clients/cli/possync \
 && build/broker/possync-broker --version

# Runtime stage: the shared libraries the broker links (readelf -d NEEDED:
# libpqxx-6.4 → libpq5, libsqlite3, libssl3/libcrypto, prometheus-cpp core;
# libstdc++ and libgcc are in the base image). No compiler, no shell tools
# beyond the base image's; bash runs the health check.
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libpqxx-6.4 libpq5 libsqlite3-0 libssl3 libprometheus-cpp-core1.0 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 possync \
 && useradd --system --uid 10001 --gid possync --home-dir /var/lib/possync --shell /usr/sbin/nologin possync \
 && mkdir -p /var/lib/possync \
 && chown possync:possync /var/lib/possync
COPY --from=build /src/build/broker/possync-broker /src/build/clients/cli/possync /usr/local/bin/
COPY deploy/healthcheck.sh /usr/local/bin/possync-healthcheck

# 0.0.0.0: reachable from outside the container (the broker's own default
# is 127.0.0.1). The SQLite file lives in the volume-friendly home.
ENV POSSYNC_LISTEN=0.0.0.0:8080 \
    POSSYNC_STORE=sqlite:/var/lib/possync/possync.db
USER possync
WORKDIR /var/lib/possync
EXPOSE 8080
# Ready = can write to the store (GET /readyz is 200); see deploy/healthcheck.sh.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["/usr/local/bin/possync-healthcheck"]
# The broker is PID 1 and handles SIGTERM itself: it stops accepting,
# answers what is in flight, closes connections with 1001 and exits 0
# within --drain-timeout-ms (5 s), under Docker's 10 s stop timeout.
ENTRYPOINT ["/usr/local/bin/possync-broker"]
