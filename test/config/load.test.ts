import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/load';

const writeTemp = (text: string): string => {
  const path = join(mkdtempSync(join(tmpdir(), 'stormproof-config-')), 'config.yaml');
  writeFileSync(path, text);
  return path;
};

describe('loadConfig', () => {
  it('defaults to the local dev stack', () => {
    const config = loadConfig({});
    expect(config.temporal.address).toBe('127.0.0.1:7233');
    expect(config.regions.map((r) => r.name)).toEqual(['us-east-1', 'us-west-2']);
    expect(config.regions[0]!.archive.map((t) => t.region)).toEqual(['us-east-1', 'us-west-2']);
  });

  it('takes the Temporal SDK environment conventions over the file', () => {
    const file = writeTemp('temporal:\n  address: file-host:7233\n  namespace: from-file\n');
    const config = loadConfig({
      STORMPROOF_CONFIG: file,
      TEMPORAL_ADDRESS: 'my-ns.a1b2c.tmprl.cloud:7233',
      TEMPORAL_API_KEY: 'secret',
    });
    expect(config.temporal).toMatchObject({
      address: 'my-ns.a1b2c.tmprl.cloud:7233',
      namespace: 'from-file',
      apiKey: 'secret',
    });
  });

  it('names every bad field at once', () => {
    const file = writeTemp(
      [
        'aws:',
        '  maxAttempts: 0',
        'regions:',
        '  - name: mars-central',
        '    archive: []',
        '    statsUrl: not-a-url',
        '    trackingTarget: x',
        'surprise: true',
      ].join('\n'),
    );
    let error: unknown;
    try {
      loadConfig({ STORMPROOF_CONFIG: file, TEMPORAL_ADDRESS: 'no-port', STORMPROOF_LOG_LEVEL: 'chatty' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { problems, message } = error as ConfigError;
    const fields = problems.map((p) => p.split(':')[0]);
    expect(fields).toEqual(
      expect.arrayContaining([
        'temporal.address',
        'aws.maxAttempts',
        'regions.0.name',
        'regions.0.archive',
        'regions.0.statsUrl',
        'log.level',
        '(root)',
      ]),
    );
    expect(message).toContain(file);
    expect(message).toMatch(/surprise/);
  });

  it('reports a duplicated region', () => {
    const file = writeTemp(
      [
        'regions:',
        ...['us-east-1', 'us-east-1'].flatMap((name) => [
          `  - name: ${name}`,
          '    archive: [{ bucket: some-bucket, region: us-east-1 }]',
          '    statsUrl: http://127.0.0.1:1',
          '    trackingTarget: x',
        ]),
      ].join('\n'),
    );
    expect(() => loadConfig({ STORMPROOF_CONFIG: file })).toThrow(
      /regions\.1\.name: region us-east-1 is listed twice/,
    );
  });

  it('names an unreadable file', () => {
    expect(() => loadConfig({ STORMPROOF_CONFIG: '/nonexistent/stormproof.yaml' })).toThrow(
      /cannot read configuration file \/nonexistent\/stormproof.yaml/,
    );
  });
});
