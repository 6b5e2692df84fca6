import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import { ensureBucket } from '../../src/stack/seed';
import { testConfig, uniqueName } from '../helpers/env';

describe('S3 on the local stack, through the fault proxy', () => {
  let aws: AwsClients;
  beforeAll(() => {
    aws = createAwsClients(testConfig());
  });
  afterAll(() => aws.destroy());

  it.each(['us-east-1', 'us-west-2'])('puts, gets and lists (paged) in a bucket of %s', async (region) => {
    const bucket = uniqueName(`sp-test-${region}`);
    await ensureBucket(aws, bucket, region);
    const s3: S3Client = aws.s3(region);
    const keys = Array.from({ length: 7 }, (_, i) => `events/v1/region=${region}/part-${i}.ndjson`);
    for (const key of keys) {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: `{"key":"${key}"}\n`,
          ContentType: 'application/x-ndjson',
        }),
      );
    }
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: keys[3] }));
    expect(await got.Body!.transformToString()).toBe(`{"key":"${keys[3]}"}\n`);

    const listed: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: 'events/v1/',
          MaxKeys: 3,
          ContinuationToken: token,
        }),
      );
      listed.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.NextContinuationToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(listed.sort()).toEqual([...keys].sort());
  });

  it('refuses a second conditional PUT of the same key', async () => {
    const bucket = uniqueName('sp-test-cond');
    await ensureBucket(aws, bucket, 'us-west-2');
    const put = () =>
      aws.s3('us-west-2').send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: 'k',
          Body: 'x',
          IfNoneMatch: '*',
          ContentType: 'text/plain',
        }),
      );
    await put();
    await expect(put()).rejects.toMatchObject({
      name: 'PreconditionFailed',
      $metadata: { httpStatusCode: 412 },
    });
  });
});
