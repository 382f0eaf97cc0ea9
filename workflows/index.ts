/** Workflow bundle entry: every workflow type the worker registers. */
export { orderWorkflow } from './order';
export { exportWorkflow } from './export';
