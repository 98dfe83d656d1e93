# syntax=docker/dockerfile:1
# The asl prediction server (and the `asl` CLI beside it) as a container image.
#   docker build -t asl .
#   docker run -p 9696:9696 -e MLFLOW_TRACKING_URI=http://mlflow:5000 asl
# deploy/compose.yaml runs it with MLflow, PostgreSQL, Prometheus and Grafana.

# --- build: the release binaries, with the workspace's vendored burn-flex kernels ---
FROM rust:1.95-slim-bookworm AS build
# The commit tracked runs are tagged with (.git is not in the build context):
#   docker build --build-arg ASL_GIT_COMMIT=$(git rev-parse --short=12 HEAD) -t asl .
ARG ASL_GIT_COMMIT=""
ENV ASL_GIT_COMMIT=${ASL_GIT_COMMIT}
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p asl-http -p asl-cli --bins \
    && install -D -m 0755 target/release/asl-http /out/asl-http \
    && install -D -m 0755 target/release/asl /out/asl

# --- run: a slim base, no compiler, a non-root user, state under /var/lib/asl ---
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/asl --create-home asl
COPY --from=build /out/asl-http /out/asl /usr/local/bin/
# The binaries embed the bundled word list (CC BY-SA) and other signers' hand landmarks (MIT, public domain):
# their notices travel with them.
COPY asl-core/data/WORDS_LICENSE.md asl-core/data/NOTICE_other_signers.md /usr/share/doc/asl/
USER 10001:10001
# The replica's only local state: a scratch root (model downloads, the prediction log).
ENV ASL_HOME=/var/lib/asl \
    ASL_HOST=0.0.0.0 \
    ASL_PORT=9696
VOLUME ["/var/lib/asl"]
EXPOSE 9696
# /health answers while the process serves; /ready only once a model is loaded.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:9696/health || exit 1
ENTRYPOINT ["asl-http"]
# Follow the registry's champion (MLFLOW_TRACKING_URI, else the local registry) and start
# before one exists: not ready until a model loads.
CMD ["--model-alias", "champion", "--wait-for-model"]
