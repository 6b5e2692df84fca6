import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import {
  CreateHostedZoneCommand,
  GetChangeCommand,
  Route53Client,
  type Route53ClientConfig,
} from '@aws-sdk/client-route-53';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { FaultProxyClient, type FaultProxy } from '../../src/fault-proxy';
import { toolPaths } from '../../src/stack/tools';
import { unusedPort } from '../helpers/ports';
import { eventually, sha256, startTestProxy } from './helpers';

const { motoServer } = toolPaths();
const describeWithMoto = existsSync(motoServer) ? describe : describe.skip;

/**
 * moto lets the first N actions through unauthenticated and checks the SigV4 signature of every later one:
 * the three IAM calls that create the test's credentials, then everything is verified.
 */
const SETUP_ACTIONS = 3;

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

async function startMoto(): Promise<{ url: string; child: ChildProcess }> {
  const port = await unusedPort();
  const child = spawn(motoServer, ['-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: String(SETUP_ACTIONS) },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}`;
  // /moto-api/ is moto's own endpoint: probing it does not use up the unauthenticated actions.
  await eventually(
    'moto answers HTTP',
    async () => {
      if (child.exitCode !== null) throw new Error(`moto exited during start-up (code ${child.exitCode})`);
      try {
        const res = await fetch(`${url}/moto-api/`, { signal: AbortSignal.timeout(1_000) });
        await res.body?.cancel();
        return true;
      } catch {
        return false;
      }
    },
    30_000,
  );
  return { url, child };
}

async function stopMoto(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** An IAM user allowed everything, and its access key, created with the unauthenticated setup actions. */
async function createCredentials(motoUrl: string): Promise<Credentials> {
  const call = async (params: Record<string, string>): Promise<string> => {
    const res = await fetch(motoUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        // moto picks the service from the credential scope; the signature itself is not checked yet.
        authorization: 'AWS4-HMAC-SHA256 Credential=setup/20170228/us-east-1/iam/aws4_request, Signature=0',
      },
      body: new URLSearchParams({ ...params, Version: '2010-05-08' }),
      signal: AbortSignal.timeout(5_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`IAM ${params.Action} failed: ${res.status} ${text}`);
    return text;
  };
  const UserName = 'fault-proxy-test';
  await call({ Action: 'CreateUser', UserName });
  await call({
    Action: 'PutUserPolicy',
    UserName,
    PolicyName: 'everything',
    PolicyDocument: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
    }),
  });
  const xml = await call({ Action: 'CreateAccessKey', UserName });
  const field = (name: string): string => {
    const value = new RegExp(`<${name}>([^<]+)</${name}>`).exec(xml)?.[1];
    if (!value) throw new Error(`no ${name} in CreateAccessKey answer: ${xml}`);
    return value;
  };
  return { accessKeyId: field('AccessKeyId'), secretAccessKey: field('SecretAccessKey') };
}

describeWithMoto('fault proxy in front of moto, with the AWS SDK', () => {
  let moto: { url: string; child: ChildProcess } | undefined;
  let proxy: FaultProxy | undefined;
  let control: FaultProxyClient;
  let credentials: Credentials;
  const sdkClients: { destroy(): void }[] = [];

  /** One attempt, so a fault shows as the SDK's error instead of being retried away. */
  const clientConfig = (
    endpoint: string,
    creds: Credentials = credentials,
  ): S3ClientConfig & Route53ClientConfig => ({
    region: 'us-east-1',
    endpoint,
    credentials: creds,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 2_000, requestTimeout: 10_000 }),
  });
  const s3 = (creds?: Credentials): S3Client => {
    const client = new S3Client({
      ...clientConfig(proxy!.listeners['s3-us-east-1']!, creds),
      forcePathStyle: true,
    });
    sdkClients.push(client);
    return client;
  };

  beforeAll(async () => {
    moto = await startMoto();
    credentials = await createCredentials(moto.url);
    proxy = await startTestProxy({ 's3-us-east-1': moto.url, route53: moto.url });
    control = new FaultProxyClient(proxy.controlUrl);
  });
  afterEach(() => control.clearAll());
  afterAll(async () => {
    for (const client of sdkClients) client.destroy();
    await proxy?.close();
    if (moto) await stopMoto(moto.child);
  });

  it('passes S3 calls with their signatures intact (moto verifies them)', async () => {
    const client = s3();
    const body = randomBytes(3 * 1024 * 1024); // above 2 MiB the SDK sends Expect: 100-continue
    await client.send(new CreateBucketCommand({ Bucket: 'proxy-pass' }));
    await client.send(new PutObjectCommand({ Bucket: 'proxy-pass', Key: 'big', Body: body }));
    const got = await client.send(new GetObjectCommand({ Bucket: 'proxy-pass', Key: 'big' }));
    expect(sha256(Buffer.from(await got.Body!.transformToByteArray()))).toBe(sha256(body));

    // The control: moto does refuse a bad signature, so the calls above really were verified.
    const forged = s3({ ...credentials, secretAccessKey: 'not-the-secret' });
    await expect(
      forged.send(new PutObjectCommand({ Bucket: 'proxy-pass', Key: 'forged', Body: 'x' })),
    ).rejects.toMatchObject({ name: 'SignatureDoesNotMatch' });
  });

  it('makes PutObject fail with SlowDown in error 503 mode, without reaching moto', async () => {
    const client = s3();
    await client.send(new CreateBucketCommand({ Bucket: 'proxy-slowdown' }));
    await control.setFault('s3-us-east-1', { mode: 'error', status: 503, format: 's3', methods: ['PUT'] });

    await expect(
      client.send(new PutObjectCommand({ Bucket: 'proxy-slowdown', Key: 'k', Body: 'event' })),
    ).rejects.toMatchObject({ name: 'SlowDown', $metadata: { httpStatusCode: 503 } });

    await control.clear('s3-us-east-1');
    await expect(
      client.send(new GetObjectCommand({ Bucket: 'proxy-slowdown', Key: 'k' })),
    ).rejects.toMatchObject({ name: 'NoSuchKey' });
  });

  it('rewrites GetChange to PENDING and throttles Route 53 calls', async () => {
    const route53 = new Route53Client(clientConfig(proxy!.listeners.route53!));
    sdkClients.push(route53);
    const zone = await route53.send(
      new CreateHostedZoneCommand({ Name: 'proxy.example.', CallerReference: `proxy-${Date.now()}` }),
    );
    const getChange = new GetChangeCommand({ Id: zone.ChangeInfo!.Id });
    expect((await route53.send(getChange)).ChangeInfo?.Status).toBe('INSYNC');

    await control.setFault('route53', { mode: 'rewrite-pending', pathRegex: '/change/' });
    expect((await route53.send(getChange)).ChangeInfo?.Status).toBe('PENDING');

    await control.setFault('route53', { mode: 'error', status: 400, format: 'route53', count: 1 });
    await expect(route53.send(getChange)).rejects.toMatchObject({
      name: 'Throttling',
      $metadata: { httpStatusCode: 400 },
    });
    expect((await route53.send(getChange)).ChangeInfo?.Status).toBe('INSYNC');
  });
});
