/** Stops what the global setup started, in reverse order. */
export default async function globalTeardown(): Promise<void> {
  const state = globalThis.__ORDERFLOW_TEST__;
  if (state === undefined) return;
  await state.env.teardown();
  for (const teardown of state.teardowns.reverse()) await teardown();
  globalThis.__ORDERFLOW_TEST__ = undefined;
}
