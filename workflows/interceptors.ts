/**
 * Where an unreadable payload may not be tolerated. The worker's payload converter turns a payload it cannot read into
 * an `UndecodablePayload` value (lib/payload-converter.ts) so that a bad signal or update typed by hand never fails a
 * workflow task; the signal and update handlers deal with it (workflows/signal-payloads.ts). Anywhere else such a value
 * can only mean a misconfigured worker (a payload key it lacks, or the wrong key material under a known id), and the
 * saga must not run on it: a workflow's input and every activity result are checked here and fail the workflow task
 * instead, which Temporal retries until the configuration is fixed, as it did before the converter was tolerant.
 * Activities check their own input (worker/create-worker.ts).
 *
 * Registered in the workflow bundle (`workflowInterceptorModules`, worker/create-worker.ts). Deterministic code.
 */
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { isUndecodable } from '../lib/payload-converter';

/** Throws (a plain Error: the workflow task fails and is retried) when `value` is an unreadable payload. */
function requireDecoded(value: unknown, what: string): void {
  if (isUndecodable(value)) {
    throw new Error(`${what} could not be decoded (${value.why}); check PAYLOAD_CODEC_KEYS on every process`);
  }
}

/** The workflow interceptors of the order worker's bundle. */
export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [
    {
      async execute(input, next) {
        input.args.forEach((arg, index) => requireDecoded(arg, `workflow argument ${index + 1}`));
        return next(input);
      },
    },
  ],
  outbound: [
    {
      async scheduleActivity(input, next) {
        const result = await next(input);
        requireDecoded(result, `the result of activity ${input.activityType}`);
        return result;
      },
      async scheduleLocalActivity(input, next) {
        const result = await next(input);
        requireDecoded(result, `the result of local activity ${input.activityType}`);
        return result;
      },
    },
  ],
});
