/**
 * A provisioning failure the user can fix: its message is one line saying what went wrong and what to do. The
 * launchers print it as is (`orderflow: <message>`); any other error is unexpected and printed with a pointer.
 */
export class SetupError extends Error {}
