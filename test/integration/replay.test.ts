/**
 * Determinism guard: every recorded saga history (test/fixtures/histories/*.json) must replay against the current
 * workflow code. A change that would break running orders (reordered activities, a removed step, a new timer without
 * a patch) fails here instead of in production.
 *
 * Re-record after an intended, versioned change: `RECORD_HISTORIES=1 npx jest test/integration/saga.test.ts
 * test/integration/worker-crash.test.ts`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import { defaultPayloadConverter } from '@temporalio/common';
import { createDataConverter, createEncryptionCodec } from '../../lib/codec';
import { workflowIdFor } from '../../workflows/definitions';
import { createLogger } from '../../lib/logger';
import { bundleOrderWorkflows } from '../../worker/create-worker';
import { HISTORIES_DIR, installQuietRuntime } from '../support/saga-helpers';
import { testConfig } from '../support/services';

const files = readdirSync(HISTORIES_DIR)
  .filter((file) => file.endsWith('.json'))
  .sort();

let bundle: WorkflowBundle;

beforeAll(async () => {
  installQuietRuntime();
  bundle = await bundleOrderWorkflows(createLogger('bundle', 'error'));
});

test('the fixtures cover the saga scenarios', () => {
  expect(files.length).toBeGreaterThanOrEqual(8);
});

/** The patch ids a history's `core_patch` markers record (the SDK writes them as plain JSON `{ id, deprecated }`). */
function patchIds(file: string): string[] {
  const history = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
  return (history.events ?? []).flatMap((event) => {
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_patch') return [];
    const data = marker.details?.['patch-data']?.payloads?.[0]?.data;
    return data ? [(JSON.parse(Buffer.from(data).toString('utf8')) as { id: string }).id] : [];
  });
}

test('the fixtures hold orders of all four shapes: before local-bookkeeping-steps, before lean-saga, lean, and lean with the commit in the charge', () => {
  // *.v1.json: regular activities only; *.v2.json: the local-bookkeeping-steps patch; *.v3.json: the lean saga;
  // the others: commit-with-charge.
  const shapes: [RegExp, string[]][] = [
    [/\.v1\.json$/, []],
    [/\.v2\.json$/, ['local-bookkeeping-steps']],
    [/\.v3\.json$/, ['lean-saga']],
    [/^[^.]+\.json$/, ['commit-with-charge']],
  ];
  for (const [pattern, patches] of shapes) {
    const shape = files.filter((file) => pattern.test(file));
    expect(shape.length).toBeGreaterThanOrEqual(8);
    for (const file of shape) expect([file, patchIds(file)]).toEqual([file, patches]);
  }
});

test('when every recorded history is replayed on the current workflow code, then none is non-deterministic', async () => {
  // Histories recorded with encryption on carry payloads under the test key; older plain ones pass through the codec.
  const dataConverter = createDataConverter(testConfig());
  const codec = createEncryptionCodec(testConfig());
  /** The order's workflow id, `order-<orderId>` from the run's input: a run checks it is its order's (order-input.ts). */
  const workflowIdOf = async (history: ReturnType<typeof historyFromJSON>): Promise<string> => {
    const payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    const [input] = await codec.decode(payloads);
    const { orderId } = defaultPayloadConverter.fromPayload<{ orderId: string }>(input ?? {});
    return workflowIdFor(orderId);
  };
  const histories = await Promise.all(
    files.map(async (file) => {
      const history = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
      return { file, workflowId: await workflowIdOf(history), history };
    }),
  );
  const fileOf = new Map(histories.map(({ file, workflowId }) => [workflowId, file]));
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle, dataConverter }, histories)) {
    if (result.error !== undefined) failures.push(`${fileOf.get(result.workflowId)}: ${result.error.message}`);
  }
  expect(failures).toEqual([]);
});
