/**
 * How the local stack runs Versity's S3 gateway (tests start private ones the same way). Without
 * `--keep-alive` the gateway answers `Connection: close`, which costs a loopback connection per request but is
 * correct: with it, about one GET in twenty after a streamed (aws-chunked) PUT on the same connection was
 * answered 400 "error occurred when parsing the HTTP request" (versitygw 1.8.0, AWS SDK for JS v3).
 */
export function versitygwArgs(port: number, region: string, dataDir: string): string[] {
  // --region: a gateway answers only requests signed for it; --quiet: no log line per request
  return ['--port', `127.0.0.1:${port}`, '--region', region, '--quiet', 'posix', dataDir];
}

/** The root user, by environment, so the key never shows in a process listing. */
export const versitygwEnv = (credentials: { accessKeyId: string; secretAccessKey: string }) => ({
  ROOT_ACCESS_KEY: credentials.accessKeyId,
  ROOT_SECRET_KEY: credentials.secretAccessKey,
});
