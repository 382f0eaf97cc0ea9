/** `npm run watch`: prints one line per status event from the realtime relay (docs/realtime.md). */
import { io } from 'socket.io-client';
import { parseCommandLine, usageError, type Command } from '../lib/cli';
import { loadConfigOrExit } from '../lib/config';
import { ORDER_STATUS_EVENT, SUBSCRIBE_EVENT } from '../lib/events';
import { isTerminal } from '../workflows/definitions';
import { signToken } from '../lib/auth';
import type { ClientOrderEvent, SubscribeAck } from '../lib/realtime-protocol';

const WATCH: Command = {
  name: 'watch',
  usage: 'usage: npm run watch -- <orderId | --all> [--token T] [--customer C] [--url U] [--follow]',
  summary:
    'Prints one line per status event from the realtime relay. For one order it subscribes (again after every reconnect, from the last seq it printed) and exits once the order reaches a terminal status, unless --follow; --all prints every event of the deployment.',
  arguments: [
    ['<orderId>', 'the order to watch'],
    ['--all', 'every order of the deployment (the admin room)'],
    ['--token T', 'connect with this token (default: a dev token signed with JWT_SECRET, admin)'],
    ['--customer C', "with an order id: sign C's customer token instead of an admin one"],
    ['--url U', 'the relay, an http:// or https:// URL (default http://HOST:REALTIME_PORT)'],
    ['--follow', 'keep watching the order after a terminal status'],
  ],
  environment: [
    ['JWT_SECRET', 'signs the dev token when --token is not given (default: the dev secret)'],
    ['HOST, REALTIME_PORT', 'where the relay listens when --url is not given (default 127.0.0.1:3001)'],
  ],
  example: 'npm run watch -- --all',
};

/** Parses the command line; `--help` and a wrong command line end the process (lib/cli.ts). */
function parseWatchArgs() {
  const { values, positionals } = parseCommandLine(WATCH, {
    allowPositionals: true,
    options: {
      all: { type: 'boolean', default: false },
      follow: { type: 'boolean', default: false },
      token: { type: 'string' },
      customer: { type: 'string' },
      url: { type: 'string' },
    },
  });
  const [orderId, ...extra] = positionals;
  if (extra.length > 0) usageError(WATCH, `unexpected argument '${extra[0]}'`);
  if (values.all && orderId !== undefined) usageError(WATCH, 'an order id or --all, not both');
  if (!values.all && orderId === undefined) usageError(WATCH, 'an order id or --all is required');
  // --all signs an admin token; a customer's would see nothing of the others' orders.
  if (values.all && values.customer !== undefined) usageError(WATCH, '--customer goes with an order id, not --all');
  const { all, follow, token, customer, url } = values;
  // The relay is an http(s) URL; anything else would make socket.io retry forever.
  if (url !== undefined && !/^https?:$/.test(URL.parse(url)?.protocol ?? '')) {
    usageError(WATCH, `--url: must be an http:// or https:// URL, got ${url}`);
  }
  return { orderId, all, follow, token, customer, url };
}

/** One line per event: time, order, seq, status, detail. */
function formatEvent(event: ClientOrderEvent): string {
  const detail = Object.keys(event.detail).length > 0 ? `  ${JSON.stringify(event.detail)}` : '';
  return `${event.at}  ${event.orderId}  #${String(event.seq).padEnd(3)} ${event.status.padEnd(15)}${detail}`;
}

function main(): void {
  const args = parseWatchArgs();
  const config = loadConfigOrExit();
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = args.url ?? `http://${host}:${config.realtimePort}`;
  const token =
    args.token ??
    (args.customer !== undefined && !args.all
      ? signToken(args.customer, config.jwtSecret, { role: 'customer' })
      : signToken('watch-cli', config.jwtSecret, { role: 'admin' }));

  const socket = io(url, { auth: { token }, transports: ['websocket'], reconnectionDelayMax: 2000 });
  const seen = new Map<string, Set<number>>();
  let lastSeq = 0;

  let stopping = false;
  const stop = (code: number): void => {
    stopping = true;
    socket.close();
    process.exit(code);
  };
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));

  socket.on(ORDER_STATUS_EVENT, (event: ClientOrderEvent) => {
    if (args.orderId !== undefined && event.orderId !== args.orderId) return;
    const seqs = seen.get(event.orderId) ?? new Set<number>();
    seen.set(event.orderId, seqs);
    if (seqs.has(event.seq)) return; // at-least-once delivery: drop duplicates by seq
    seqs.add(event.seq);
    process.stdout.write(`${formatEvent(event)}\n`);
    if (args.orderId !== undefined) {
      lastSeq = Math.max(lastSeq, event.seq);
      if (isTerminal(event.status) && !args.follow) stop(0);
    }
  });

  socket.on('connect', () => {
    process.stderr.write(`watch: connected to ${url}\n`);
    if (args.orderId === undefined) return;
    socket.emit(SUBSCRIBE_EVENT, { orderId: args.orderId, lastSeq }, (ack: SubscribeAck) => {
      if (!ack.ok) {
        const why = ack.error === 'validation_failed' ? `${ack.error} (${ack.message})` : ack.error;
        process.stderr.write(`watch: subscribe refused: ${why}\n`);
        stop(1);
      }
    });
  });
  socket.on('disconnect', (reason) => {
    if (stopping) return;
    process.stderr.write(`watch: disconnected (${reason}); reconnecting\n`);
    if (reason === 'io server disconnect') socket.connect(); // the client does not retry this one by itself
  });
  socket.on('connect_error', (error: Error) => {
    if (error.message === 'unauthorized') {
      process.stderr.write('watch: the relay refused the token (unauthorized)\n');
      stop(1);
      return;
    }
    process.stderr.write(`watch: cannot reach ${url} (${error.message}); retrying\n`);
  });
}

main();
