/** Stops what the global setup started, in reverse order. */
export default async function globalTeardown(): Promise<void> {
  const state = globalThis.__ORDERFLOW_TEST__;
  if (state === undefined) return;
  if (state.env !== undefined) {
    await state.env.teardown();
    // A jest --watch re-run must start a fresh server rather than reuse this address.
    delete process.env.TEST_TEMPORAL_ADDRESS;
  }
  await state.teardowns.stop();
  globalThis.__ORDERFLOW_TEST__ = undefined;
}
