import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearerTokenCheck } from '../../src/auth/bearerTokens';
import { ConfigError, loadConfig } from '../../src/config/load';

const writeTemp = (text: string): string => {
  const path = join(mkdtempSync(join(tmpdir(), 'stormproof-config-')), 'config.yaml');
  writeFileSync(path, text);
  return path;
};

describe('security configuration', () => {
  it('names each bad key, token and metrics field', () => {
    const file = writeTemp(
      [
        'encryption:',
        '  currentKeyId: k-3',
        '  keys:',
        '    - { id: k-1, file: /keys/1, env: KEY_1 }',
        '    - { id: k-2 }',
        '    - { id: "bad id!", env: KEY_X }',
        'ingestAuth:',
        '  tokens:',
        '    - { id: t-1, env: T1 }',
        '    - { id: t-1, env: T2 }',
        'codecServer: { tokens: [] }',
        'metrics: { host: 127.0.0.1, ingestPort: 99999, workerPort: 1, workerSdkPort: 2 }',
      ].join('\n'),
    );
    let error: unknown;
    try {
      loadConfig({ STORMPROOF_CONFIG: file });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual(
      expect.arrayContaining([
        'encryption.keys.0: set exactly one of file or env',
        'encryption.keys.1: set exactly one of file or env',
        expect.stringMatching(/^encryption\.keys\.2\.id: must be 1-64 letters/),
        'encryption.currentKeyId: key k-3 is not among keys (k-1, k-2, bad id!)',
        'ingestAuth.tokens.1.id: id t-1 is listed twice',
        expect.stringMatching(/^codecServer\.tokens: /),
        expect.stringMatching(/^metrics\.ingestPort: /),
      ]),
    );
  });
});

describe('bearer token check', () => {
  const check = bearerTokenCheck([
    { id: 'old', value: 'old-token-0123456789' },
    { id: 'new', value: 'new-token-0123456789' },
  ]);

  it('names the token that matched, any of several', () => {
    expect(check('Bearer old-token-0123456789')).toBe('old');
    expect(check('bearer  new-token-0123456789')).toBe('new');
  });

  it('refuses anything else', () => {
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer old-token-012345678',
      'Bearer old-token-01234567890',
      'Basic old-token-0123456789',
      'old-token-0123456789',
      'Bearer old-token-0123456789 new-token-0123456789',
    ]) {
      expect(check(header)).toBeUndefined();
    }
  });

  it('refuses to run with no token or a short one', () => {
    expect(() => bearerTokenCheck([])).toThrow('at least one bearer token is needed');
    expect(() => bearerTokenCheck([{ id: 'weak', value: 'short' }])).toThrow(
      'token weak is shorter than 16 characters',
    );
  });
});
