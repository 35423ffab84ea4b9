# tidemark's container image: `docker build -t tidemark .` (on an engine without a bridge,
# such as `dockerd --bridge=none`, add `--network=host`; `tools/image build` starts such an
# engine, makes the Debian base images without a registry and builds this file).
# Stage 1 builds with Debian's -dev packages; stage 2 carries the two programs (`tidemark`,
# and `tidemark-operator`, to which `tidemark operator` hands over) and only the shared
# libraries they need (tests/shipping/dockerfile_test.py checks the list against `ldd`).
# The image runs as uid 65532 and writes nothing to its root file system, so it runs with
# readOnlyRootFilesystem (see manifests/core/deployment.yaml).

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libcpp-httplib-dev libssl-dev libpq-dev libyaml-cpp-dev prometheus-cpp-dev \
      nlohmann-json3-dev libpg-query-dev libcli11-dev libspdlog-dev nettle-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY src/ src/
# The build type CI tests (RelWithDebInfo: -O2), stripped.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIDEMARK_TESTS=OFF -DTIDEMARK_BENCH=OFF \
 && cmake --build build --target tidemark tidemark-operator -j "$(nproc)" \
 && strip build/bin/tidemark build/bin/tidemark-operator

FROM debian:bookworm-slim
# Shared libraries the programs link directly (their own dependencies come with them).
# libpg_query and yaml-cpp are linked statically, spdlog is header-only.
ARG RUNTIME_LIBRARIES="libc6 libgcc-s1 libstdc++6 libssl3 libpq5 libnettle8 \
  libprometheus-cpp-core1.0 libcpp-httplib0.11 libfmt9"
# Not libraries: root certificates, for sslMode verify-full to databases with public CAs.
ARG RUNTIME_EXTRAS="ca-certificates"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      $RUNTIME_LIBRARIES $RUNTIME_EXTRAS \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/* \
 && echo 'tidemark:x:65532:65532:tidemark:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'tidemark:x:65532:' >> /etc/group
COPY --from=build /src/build/bin/tidemark /usr/local/bin/tidemark
COPY --from=build /src/build/bin/tidemark-operator /usr/local/bin/tidemark-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tidemark"]
CMD ["operator"]
