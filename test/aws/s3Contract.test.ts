import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type CreateBucketCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { uniqueName } from '../helpers/env';
import { startPrivateMoto, startPrivateVersitygw, type PrivateS3 } from '../helpers/s3Servers';

/**
 * The S3 behaviour the product relies on, against both servers the local stack can run: archiveEvents
 * (conditional PUT with a SHA-256 checksum, gzip encoding and manifest metadata; HEAD after a 412),
 * rehomeObjects (list by prefix with LastModified, HEAD with 404, GET with metadata, PUT back),
 * reconciliation (list an hour's prefix page by page, HEAD the manifest, GET the body), the probes
 * (small PUT, GET, DELETE) and the stack's seeding (CreateBucket in two regions, twice). A server that
 * behaves differently fails here rather than somewhere deep in a workflow test.
 */
const servers: [string, () => Promise<PrivateS3>][] = [
  ['versitygw', startPrivateVersitygw],
  ['moto', startPrivateMoto],
];

/**
 * The one difference that is known and accepted: moto stores a PUT's checksum without checking it, so on
 * moto a corrupted upload is caught only by the product's own SHA-256 check on read (rehome, reconcile).
 */
const verifiesChecksums: Record<string, boolean> = { versitygw: true, moto: false };

/**
 * In us-east-1 AWS (and moto) answer the owner's second CreateBucket with 200, versitygw with 409
 * BucketAlreadyOwnedByYou, as every other region does; the stack's ensureBucket takes either.
 */
const recreateInUsEast1: Record<string, string> = { versitygw: 'BucketAlreadyOwnedByYou', moto: 'created' };

const META = {
  'stormproof-batch-id': 'batch-1',
  'stormproof-region': 'us-east-1',
  'stormproof-count': '2',
  'stormproof-id-digest': '0123456789abcdef0123456789abcdef',
  'stormproof-sha256': 'set per object',
};

const sha256 = (body: Uint8Array): Buffer => createHash('sha256').update(body).digest();

describe.each(servers)('S3 as the product uses it, on %s', (name, start) => {
  let s3: PrivateS3;
  let east: S3Client;
  let west: S3Client;
  const home = uniqueName('sp-contract-home');
  const failover = uniqueName('sp-contract-failover');

  beforeAll(async () => {
    s3 = await start();
    east = s3.client('us-east-1');
    west = s3.client('us-west-2');
    await east.send(new CreateBucketCommand({ Bucket: home }));
    await west.send(
      new CreateBucketCommand({
        Bucket: failover,
        CreateBucketConfiguration: { LocationConstraint: 'us-west-2' },
      }),
    );
  }, 60_000);
  afterAll(() => s3?.remove());

  const archivePut = (client: S3Client, bucket: string, key: string, body: Uint8Array) =>
    client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: 'application/x-ndjson',
        ContentEncoding: 'gzip',
        ChecksumSHA256: sha256(body).toString('base64'),
        IfNoneMatch: '*',
        Metadata: { ...META, 'stormproof-sha256': sha256(body).toString('hex') },
      }),
    );

  it('answers a second CreateBucket of a bucket it has as ensureBucket expects (seeding is idempotent)', async () => {
    const again = (client: S3Client, input: CreateBucketCommandInput): Promise<string> =>
      client.send(new CreateBucketCommand(input)).then(
        () => 'created',
        (err: Error) => err.name,
      );
    expect(await again(east, { Bucket: home })).toBe(recreateInUsEast1[name]);
    expect(
      await again(west, {
        Bucket: failover,
        CreateBucketConfiguration: { LocationConstraint: 'us-west-2' },
      }),
    ).toBe('BucketAlreadyOwnedByYou');
  });

  it('takes a conditional PUT once and answers the second with 412; HEAD then shows the first one’s manifest', async () => {
    const key = 'events/v1/region=us-east-1/dt=2026-11-28/hour=05/batch-1.ndjson.gz';
    const body = gzipSync('{"id":"a"}\n{"id":"b"}\n');
    await archivePut(west, failover, key, body);
    await expect(archivePut(west, failover, key, gzipSync('{"id":"other"}\n'))).rejects.toMatchObject({
      name: 'PreconditionFailed',
      $metadata: { httpStatusCode: 412 },
    });
    const head = await west.send(new HeadObjectCommand({ Bucket: failover, Key: key }));
    expect(head.Metadata).toEqual({ ...META, 'stormproof-sha256': sha256(body).toString('hex') });
    expect(head).toMatchObject({
      ContentType: 'application/x-ndjson',
      ContentEncoding: 'gzip',
      ContentLength: body.length,
    });
  });

  it(`${verifiesChecksums[name] ? 'refuses' : 'stores (without checking)'} a PUT whose ChecksumSHA256 does not match its body`, async () => {
    const key = uniqueName('bad-digest');
    const put = east.send(
      new PutObjectCommand({
        Bucket: home,
        Key: key,
        Body: gzipSync('{"id":"a"}\n'),
        ContentType: 'application/gzip',
        ChecksumSHA256: sha256(Buffer.from('something else')).toString('base64'),
      }),
    );
    if (verifiesChecksums[name]) {
      await expect(put).rejects.toMatchObject({ name: 'BadDigest', $metadata: { httpStatusCode: 400 } });
      await expect(east.send(new HeadObjectCommand({ Bucket: home, Key: key }))).rejects.toMatchObject({
        $metadata: { httpStatusCode: 404 },
      });
    } else {
      await expect(put).resolves.toBeDefined();
    }
  });

  it('stores streamed (aws-chunked) uploads intact and serves the next request on the connection', async () => {
    // Twenty rounds: a server that misreads what follows a chunked body fails only some of them.
    const body = gzipSync(Buffer.alloc(200_000, '{"id":"x"}\n'));
    for (let round = 0; round < 20; round++) {
      const key = uniqueName('streamed');
      await east.send(
        new PutObjectCommand({
          Bucket: home,
          Key: key,
          Body: Readable.from([body.subarray(0, 1000), body.subarray(1000)]),
          ContentLength: body.length,
          ContentType: 'application/gzip',
          IfNoneMatch: '*',
        }),
      );
      const got = await east.send(new GetObjectCommand({ Bucket: home, Key: key }));
      expect(sha256(await got.Body!.transformToByteArray())).toEqual(sha256(body));
    }
  });

  it('GETs the exact bytes with content type, encoding and metadata (what rehome copies back)', async () => {
    const key = 'events/v1/region=us-east-1/dt=2026-11-28/hour=06/batch-2.ndjson.gz';
    const body = gzipSync('{"id":"c"}\n');
    await archivePut(east, home, key, body);
    const got = await east.send(new GetObjectCommand({ Bucket: home, Key: key }));
    expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
    expect(got).toMatchObject({ ContentType: 'application/x-ndjson', ContentEncoding: 'gzip' });
    expect(got.Metadata?.['stormproof-sha256']).toBe(sha256(body).toString('hex'));
  });

  it('answers HEAD and GET of a missing key with 404', async () => {
    await expect(east.send(new HeadObjectCommand({ Bucket: home, Key: 'missing' }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });
    await expect(east.send(new GetObjectCommand({ Bucket: home, Key: 'missing' }))).rejects.toMatchObject({
      name: 'NoSuchKey',
      $metadata: { httpStatusCode: 404 },
    });
  });

  it('lists an hour prefix page by page, with sizes and LastModified, and nothing outside it', async () => {
    const prefix = `events/v1/region=us-west-2/dt=2026-11-29/hour=07/`;
    const keys = Array.from({ length: 7 }, (_, i) => `${prefix}batch-${i}.ndjson.gz`);
    const before = Date.now() - 60_000; // servers store whole seconds
    for (const key of keys) await archivePut(east, home, key, gzipSync(`{"id":"${key}"}\n`));
    await archivePut(
      east,
      home,
      `events/v1/region=us-west-2/dt=2026-11-29/hour=08/x.ndjson.gz`,
      gzipSync('x'),
    );

    const listed: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await east.send(
        new ListObjectsV2Command({ Bucket: home, Prefix: prefix, MaxKeys: 3, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        listed.push(o.Key!);
        expect(o.Size).toBeGreaterThan(0);
        expect(o.LastModified!.getTime()).toBeGreaterThan(before);
      }
      token = page.NextContinuationToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(listed.sort()).toEqual([...keys].sort());
  });

  it('copies an object with its metadata, across buckets of two regions', async () => {
    const key = uniqueName('copied');
    const body = gzipSync('{"id":"d"}\n');
    await archivePut(west, failover, key, body);
    await east.send(new CopyObjectCommand({ Bucket: home, Key: key, CopySource: `${failover}/${key}` }));
    const head = await east.send(new HeadObjectCommand({ Bucket: home, Key: key }));
    expect(head.Metadata).toEqual({ ...META, 'stormproof-sha256': sha256(body).toString('hex') });
    expect(head).toMatchObject({ ContentType: 'application/x-ndjson', ContentEncoding: 'gzip' });
  });

  it('puts, reads and deletes a probe object; deleting it again is not an error', async () => {
    const key = `_stormproof/probe/${uniqueName('probe')}`;
    await west.send(
      new PutObjectCommand({ Bucket: failover, Key: key, Body: 'probe', ContentType: 'text/plain' }),
    );
    const got = await west.send(new GetObjectCommand({ Bucket: failover, Key: key }));
    expect(await got.Body!.transformToString()).toBe('probe');
    await west.send(new DeleteObjectCommand({ Bucket: failover, Key: key }));
    await expect(west.send(new HeadObjectCommand({ Bucket: failover, Key: key }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });
    await expect(west.send(new DeleteObjectCommand({ Bucket: failover, Key: key }))).resolves.toBeDefined();
  });
});

describe('versitygw and the region of a signature', () => {
  let s3: PrivateS3;
  beforeAll(async () => {
    s3 = await startPrivateVersitygw();
  }, 60_000);
  afterAll(() => s3?.remove());

  it('refuses a request signed for another region: the stack runs one gateway per region', async () => {
    await expect(
      s3
        .client('us-west-2', 'us-east-1')
        .send(new CreateBucketCommand({ Bucket: uniqueName('sp-contract') })),
    ).rejects.toMatchObject({ name: 'AuthorizationHeaderMalformed', $metadata: { httpStatusCode: 400 } });
  });
});
