# flowlake's image for AWS Batch, Kubernetes and Step Functions (scripts/scale/).
#   docker build -t flowlake .
#   docker run --rm flowlake convert --help
# Build stage: exactly the build CI runs (`cargo build --release --locked`), with the toolchain CI uses.
FROM rust:1.95-slim-trixie AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

# Runtime: the binary, CA certificates for HTTPS to S3, and a non-root user. Parquet files are staged
# under $TMPDIR before upload: give the task enough ephemeral storage (see scripts/scale/).
FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/flowlake flowlake
COPY --from=build /src/target/release/flowlake /usr/local/bin/flowlake
USER 10001:10001
WORKDIR /home/flowlake
ENV TMPDIR=/tmp
ENTRYPOINT ["/usr/local/bin/flowlake"]
CMD ["--help"]
