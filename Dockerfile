# syntax=docker/dockerfile:1
# Build: a full Rust toolchain; run: distroless, non-root, only the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin berth && cp target/release/berth /berth

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /berth /usr/local/bin/berth
USER 65532:65532
EXPOSE 8080
# `run` is the default command rather than part of the entrypoint because
# the chart passes `args: [run]`; `berth run run` would be refused.
ENTRYPOINT ["/usr/local/bin/berth"]
CMD ["run"]
