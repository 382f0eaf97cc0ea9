import { ApplicationFailure, ServiceError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { loadConfig } from '../../lib/config';
import { isTemporalUnavailable, workflowInput } from '../../lib/order-workflow';

function grpcError(code: number): Error {
  return Object.assign(new Error(`grpc ${code}`), { code, details: 'x', metadata: {} });
}

describe('lib/order-workflow', () => {
  it.each([
    ['UNAVAILABLE', grpcError(14)],
    ['DEADLINE_EXCEEDED', grpcError(4)],
    ['RESOURCE_EXHAUSTED', grpcError(8)],
    ['a ServiceError caused by UNAVAILABLE', new ServiceError('Failed to signal Workflow', { cause: grpcError(14) })],
    ['an update RPC timeout', new WorkflowUpdateRPCTimeoutOrCancelledError('deadline')],
  ])('when Temporal fails with %s, then it counts as unreachable (503)', (_name, error) => {
    expect(isTemporalUnavailable(error)).toBe(true);
  });

  it.each([
    ['INVALID_ARGUMENT', grpcError(3)],
    ['a ServiceError caused by NOT_FOUND', new ServiceError('x', { cause: grpcError(5) })],
    ['an application failure', ApplicationFailure.create({ message: 'no' })],
    ['a plain error', new Error('bug')],
  ])('when Temporal fails with %s, then it is not mistaken for an outage', (_name, error) => {
    expect(isTemporalUnavailable(error)).toBe(false);
  });

  it('when the workflow input is built, then the saga settings come from config and are copied', () => {
    const config = loadConfig({ PAYMENT_RETRY_MAX_ATTEMPTS: '7', ATTENTION_TIMEOUT: '2h' });
    const input = workflowInput(config, {
      orderId: 'o',
      customerId: 'c',
      lines: [{ sku: 'A', quantity: 1 }],
      paymentToken: 'tok_ok',
      requestHash: 'h',
    });
    expect(input.settings).toEqual({
      paymentRetry: { ...config.paymentRetry, maximumAttempts: 7 },
      attentionTimeoutMs: 7_200_000,
    });
    expect(input.settings.paymentRetry).not.toBe(config.paymentRetry);
    expect(input.currency).toBe('USD');
  });
});
