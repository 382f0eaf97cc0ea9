/**
 * The self-hosted Temporal cluster in one place: the pinned server version and the files that configure it. Used by
 * `npm run test:cluster` (scripts/test-cluster.ts) and checked against docker-compose.yml by
 * test/integration/compose.test.ts, so the cluster we test is the cluster we ship.
 */
import path from 'node:path';

/** Temporal server release of docker-compose.yml (temporalio/server, temporalio/admin-tools) and of test:cluster. */
export const TEMPORAL_SERVER_VERSION = '1.29.1';

/** Go packages `go install` builds for test:cluster; their go.mod has no replace directive, so the proxy build works. */
export const TEMPORAL_SERVER_GO_PACKAGES = {
  server: `go.temporal.io/server/cmd/server@v${TEMPORAL_SERVER_VERSION}`,
  sqlTool: `go.temporal.io/server/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION}`,
} as const;

/** The PostgreSQL schema directory inside the server's Go module (`<GOMODCACHE>/<this>`). */
export const TEMPORAL_SCHEMA_MODULE_DIR = `go.temporal.io/server@v${TEMPORAL_SERVER_VERSION}/schema`;

/** Namespace OrderFlow runs in on the compose cluster (docker-compose.yml's TEMPORAL_NAMESPACE default). */
export const CLUSTER_NAMESPACE = 'orderflow';

/** Files of temporal-config/ the server and its jobs use. */
export const CLUSTER_FILES = {
  /** Server config template (`--env orderflow` in `config/`). */
  serverConfig: path.join(__dirname, 'config', 'orderflow.yaml'),
  dynamicConfig: path.join(__dirname, 'dynamicconfig', 'orderflow.yaml'),
  startServer: path.join(__dirname, 'scripts', 'start-server.sh'),
  setupSchema: path.join(__dirname, 'scripts', 'setup-schema.sh'),
  postgresInit: path.join(__dirname, 'postgres', 'init-databases.sh'),
} as const;
