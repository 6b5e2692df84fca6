import { Route53Client } from '@aws-sdk/client-route-53';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AppConfig } from '../config/schema';
import { readSecret } from '../config/secrets';
import type { NamedSecret } from '../config/securitySchema';

export interface AwsClients {
  /** The S3 client for a bucket that lives in `region` (SigV4 scope and endpoint of that region). */
  s3(region: string): S3Client;
  route53: Route53Client;
  destroy(): void;
}

/**
 * One S3 client per bucket region, created on first use. Each has explicit connect and request timeouts and a
 * deliberate `maxAttempts`: the SDK retries 5xx and throttling itself, and Temporal retries what is left.
 */
export function createAwsClients(config: AppConfig): AwsClients {
  const { aws } = config;
  const common = {
    credentials: aws.credentials && {
      accessKeyId: aws.credentials.accessKeyId,
      secretAccessKey: secretValue(aws.credentials.secretAccessKey),
    },
    maxAttempts: aws.maxAttempts,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: aws.connectTimeoutMs,
      requestTimeout: aws.requestTimeoutMs,
      // Without this the SDK only logs a breached requestTimeout and a hung endpoint hangs the call forever.
      throwOnRequestTimeout: true,
    }),
  };
  const endpointOf = new Map(config.regions.map((r) => [r.name, r.s3Endpoint]));
  const s3Clients = new Map<string, S3Client>();
  const route53 = new Route53Client({
    ...common,
    region: 'us-east-1', // Route 53's control plane is global and signs in us-east-1
    endpoint: config.route53.endpoint ?? aws.endpoint,
  });
  return {
    s3(region) {
      let client = s3Clients.get(region);
      if (!client) {
        const endpoint = endpointOf.get(region) ?? aws.endpoint;
        // Emulators and proxies answer on one host name, so they need path-style addressing.
        client = new S3Client({ ...common, region, endpoint, forcePathStyle: endpoint !== undefined });
        s3Clients.set(region, client);
      }
      return client;
    },
    route53,
    destroy() {
      for (const c of s3Clients.values()) c.destroy();
      route53.destroy();
    },
  };
}

/** A secret access key given by value, or read from where the configuration names it. */
export const secretValue = (secret: string | NamedSecret): string =>
  typeof secret === 'string' ? secret : readSecret(secret).value;
