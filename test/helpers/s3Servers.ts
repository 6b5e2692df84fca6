import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { LocalS3Server } from '../../src/config/localStack';
import { toolPaths } from '../../src/stack/tools';
import { versitygwArgs, versitygwEnv } from '../../src/stack/versitygw';
import { waitUntil } from '../../src/util/waitUntil';
import { unusedPort } from './ports';

/** An S3 server of a test's own, on free ports: the same binaries as the stack's, started the same way. */
export interface PrivateS3 {
  server: LocalS3Server;
  /** The endpoint that serves requests signed for `region`. */
  endpoint(region: string): string;
  /**
   * A client signing for `region` with the server's credentials, timeouts and path-style addressing as the
   * product's, sending to the endpoint of `endpointRegion` (the same, unless a test wants it otherwise).
   */
  client(region: string, endpointRegion?: string): S3Client;
  /** Stops the server's processes; versitygw's directory stays until `remove`. */
  stop(): Promise<void>;
  remove(): Promise<void>;
}

export const REGIONS = ['us-east-1', 'us-west-2'];

/** moto: one process for every region, in memory. */
export async function startPrivateMoto(): Promise<PrivateS3> {
  const port = await unusedPort();
  const child = spawn(toolPaths().motoServer, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await serving('moto', [child], `${url}/moto-api/`);
  const stop = () => stopChild(child);
  return privateS3('moto', () => url, { accessKeyId: 'local', secretAccessKey: 'local' }, stop, stop);
}

/**
 * versitygw as the stack runs it: one gateway per region (each accepts only its own SigV4 region) over one
 * directory. Given the directory of an earlier server, it serves what that one stored.
 */
export async function startPrivateVersitygw(dataDir?: string): Promise<PrivateS3 & { dataDir: string }> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'stormproof-s3-'));
  const credentials = { accessKeyId: 'test-root', secretAccessKey: randomBytes(24).toString('base64url') };
  const ports = await Promise.all(REGIONS.map(() => unusedPort()));
  const children = REGIONS.map((region, i) =>
    spawn(toolPaths().versitygw, versitygwArgs(ports[i]!, region, dir), {
      env: { ...process.env, ...versitygwEnv(credentials) },
      stdio: 'ignore',
    }),
  );
  const endpoint = (region: string): string => `http://127.0.0.1:${ports[REGIONS.indexOf(region)]}`;
  await Promise.all(REGIONS.map((r) => serving('versitygw', children, `${endpoint(r)}/`)));
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(stopChild));
  };
  const remove = async (): Promise<void> => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return { ...privateS3('versitygw', endpoint, credentials, stop, remove), dataDir: dir };
}

function privateS3(
  server: LocalS3Server,
  endpoint: (region: string) => string,
  credentials: { accessKeyId: string; secretAccessKey: string },
  stop: () => Promise<void>,
  remove: () => Promise<void>,
): PrivateS3 {
  const clients: S3Client[] = [];
  const destroyClients = (): void => {
    for (const c of clients.splice(0)) c.destroy();
  };
  return {
    server,
    endpoint,
    client(region, endpointRegion = region) {
      const client = new S3Client({
        region,
        endpoint: endpoint(endpointRegion),
        forcePathStyle: true,
        credentials,
        maxAttempts: 1, // a refusal must show as itself, not as a retried one
        requestHandler: new NodeHttpHandler({
          connectionTimeout: 2000,
          requestTimeout: 10_000,
          throwOnRequestTimeout: true,
        }),
      });
      clients.push(client);
      return client;
    },
    async stop() {
      destroyClients();
      await stop();
    },
    async remove() {
      destroyClients();
      await remove();
    },
  };
}

/** Any HTTP answer from `url` (an unsigned request is refused, but answered) while every child runs. */
async function serving(what: string, children: ChildProcess[], url: string): Promise<void> {
  const ok = await waitUntil(async () => {
    const dead = children.find((c) => c.exitCode !== null);
    if (dead) throw new Error(`${what} exited during start-up (code ${dead.exitCode})`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      return true;
    } catch {
      return false;
    }
  }, 30_000);
  if (!ok) throw new Error(`${what} did not answer on ${url} within 30 s`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  // a server stuck in shutdown must not hang the test file's teardown
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(killer);
}
