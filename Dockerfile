# The byzsgd binary in a small image, run as a non-root user (uid 10001, as the Kubernetes
# manifests expect). Build from the repository's root:
#
#   docker build -t byzsgd:0.1.0 .
#
# The first stage builds the release binary (with Burn's flex CPU backend; about 10 minutes on
# 2 cores); the image holds that binary and nothing of the toolchain.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin byzsgd \
    && install -D -m 0755 target/release/byzsgd /out/byzsgd

FROM debian:bookworm-slim
COPY --from=build /out/byzsgd /usr/local/bin/byzsgd
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /var/lib/byzsgd byzsgd \
    && mkdir -p /var/lib/byzsgd && chown byzsgd:byzsgd /var/lib/byzsgd
USER 10001:10001
WORKDIR /var/lib/byzsgd
# Nodes listen on 7000 in the Kubernetes manifests (deploy/kubernetes/).
EXPOSE 7000
ENTRYPOINT ["byzsgd"]
CMD ["--help"]
