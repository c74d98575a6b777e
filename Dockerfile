# One image for both Cloud Run generations: the server probes at start-up
# which isolation layers the host allows (SANDBOX_MODE=auto) and uses the
# namespaces profile on gen2 (microVM) and the chroot profile on gen1
# (gVisor). No build argument chooses between them: the one there is,
# VERSION, only names the build.
#
# Built locally by infra/image/build-image.sh (podman, with local stand-ins
# for the three public base images) and in Cloud Build by cloudbuild.yaml.

# (a) The web IDE, embedded into the server binary.
FROM docker.io/library/node:24-bookworm-slim AS client
WORKDIR /src/client
COPY client/package.json client/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY client/ ./
RUN npm run build

# (b) The server: static, no cgo, so the runtime stage needs no libc match.
FROM docker.io/library/golang:1.26-bookworm AS server
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=client /src/client/dist ./client/dist
# What /healthz and the start-up log call this build (make image passes
# git describe, Cloud Build the commit).
ARG VERSION=dev
RUN go build -trimpath -ldflags="-s -w -X python-api/function.version=${VERSION}" -o /out/server ./cmd/server

# (c) The sandbox runtime tree (python3.11 + numpy + pandas + NsJail 3.6 at
# /rootfs/opt/nsjail/bin/nsjail), made by the same script `make rootfs` and
# the tests use, so the image runs exactly the tree that was tested.
FROM docker.io/library/debian:bookworm-slim AS rootfs
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      debootstrap python3 python3-pip unzip ca-certificates gcc libc6-dev >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY infra/build-rootfs.sh /src/infra/build-rootfs.sh
COPY infra/rootfs/ /src/infra/rootfs/
RUN ROOTFS_CACHE=/tmp/rootfs-cache bash /src/infra/build-rootfs.sh /rootfs \
 && rm -rf /tmp/rootfs-cache

# (d) Runtime: the server, the CA bundle it needs for Cloud Storage and
# Pub/Sub, and the read-only runtime tree. Nothing else: no shell tools are
# needed because jailed scripts see only the tree, never this filesystem.
FROM docker.io/library/debian:bookworm-slim
COPY --from=rootfs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=rootfs /rootfs /opt/python-api/rootfs
COPY --from=server /out/server /app/server
ENV SANDBOX_ROOTFS=/opt/python-api/rootfs \
    SANDBOX_MODE=auto \
    PORT=8080
EXPOSE 8080
# No USER: the server starts as root inside the container because it creates
# namespaces (gen2) or chroots into the tree (gen1) before running each job,
# and then drops every job to an unprivileged uid/gid with no capabilities.
# Cloud Run allows root containers; the service account, not the uid, is what
# guards the project. No HEALTHCHECK: Cloud Run probes GET /healthz.
ENTRYPOINT ["/app/server"]
