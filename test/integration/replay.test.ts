/**
 * Determinism guard: every recorded saga history (test/fixtures/histories/*.json) must replay against the current
 * workflow code. A change that would break running orders (reordered activities, a removed step, a new timer without
 * a patch) fails here instead of in production.
 *
 * Re-record after an intended, versioned change: `RECORD_HISTORIES=1 npx jest test/integration/saga.test.ts
 * test/integration/worker-crash.test.ts`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import { createLogger } from '../../lib/logger';
import { bundleOrderWorkflows } from '../../worker/create-worker';
import { HISTORIES_DIR, installQuietRuntime } from '../support/saga-helpers';

const files = readdirSync(HISTORIES_DIR)
  .filter((file) => file.endsWith('.json'))
  .sort();

let bundle: WorkflowBundle;

interface ProtoJson {
  fromJson(type: unknown, json: unknown, options: { ignoreUnknownFields: boolean }): History | null;
}

/**
 * Parses a history file (`temporal workflow show --output json`). The SDK's `historyFromJSON` fails with "type must
 * be a Type" when npm installs separate protobufjs copies under @temporalio/common and @temporalio/proto (as this
 * lockfile does); then the JSON is decoded with the protobufjs copy that @temporalio/proto's types belong to.
 */
function loadHistory(json: unknown): History {
  try {
    return historyFromJSON(json);
  } catch (error) {
    if (!(error instanceof TypeError) || !error.message.includes('must be a Type')) throw error;
    const protoRequire = createRequire(require.resolve('@temporalio/proto'));
    const { fromJson } = protoRequire('protobufjs/ext/protojson') as ProtoJson;
    const root = patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown };
    const history = fromJson(root.lookupType('temporal.api.history.v1.History'), json, { ignoreUnknownFields: true });
    if (history === null) throw new TypeError('invalid history JSON', { cause: error });
    return history;
  }
}

beforeAll(async () => {
  installQuietRuntime();
  bundle = await bundleOrderWorkflows(createLogger('bundle', 'error'));
});

test('the fixtures cover the saga scenarios', () => {
  expect(files.length).toBeGreaterThanOrEqual(8);
});

test('when every recorded history is replayed on the current workflow code, then none is non-deterministic', async () => {
  const histories = files.map((file) => ({
    workflowId: path.basename(file, '.json'),
    history: loadHistory(JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8'))),
  }));
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
    if (result.error !== undefined) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  expect(failures).toEqual([]);
});
