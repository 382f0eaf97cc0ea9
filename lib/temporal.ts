import { readFileSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { TemporalConfig } from './config';

/** TLS and API-key options shared by client and worker connections, from the `@temporalio/envconfig` variables. */
export function connectionOptions(config: TemporalConfig): ConnectionOptions & NativeConnectionOptions {
  const options: ConnectionOptions & NativeConnectionOptions = { address: config.address };
  if (config.apiKey !== undefined) options.apiKey = config.apiKey;
  if (config.tls) {
    options.tls = {
      ...(config.tlsServerName !== undefined ? { serverNameOverride: config.tlsServerName } : {}),
      ...(config.tlsServerCaCertPath !== undefined
        ? { serverRootCACertificate: readFileSync(config.tlsServerCaCertPath) }
        : {}),
      ...(config.tlsClientCertPath !== undefined && config.tlsClientKeyPath !== undefined
        ? {
            clientCertPair: { crt: readFileSync(config.tlsClientCertPath), key: readFileSync(config.tlsClientKeyPath) },
          }
        : {}),
    };
  }
  return options;
}

/**
 * Connects a workflow client; the caller closes `client.connection`. Pass `createDataConverter(config)` (lib/codec.ts)
 * whenever workers use it: a client without it can neither read their results nor send them inputs.
 */
export async function connectClient(config: TemporalConfig, dataConverter?: DataConverter): Promise<Client> {
  const connection = await Connection.connect(connectionOptions(config));
  return new Client({ connection, namespace: config.namespace, ...(dataConverter ? { dataConverter } : {}) });
}

/** Connects a native connection for workers; the caller closes it after the worker stops. */
export async function connectWorker(config: TemporalConfig): Promise<NativeConnection> {
  return NativeConnection.connect(connectionOptions(config));
}
