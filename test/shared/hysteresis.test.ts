import { observe, type RegionHealth } from '../../src/shared/hysteresis';

const rule = { downAfter: 3, upAfter: 2 };
const start: RegionHealth = { status: 'up', streak: 0, since: 't0' };

function run(probes: boolean[]): { status: string; transitions: string[] } {
  let health = start;
  const transitions: string[] = [];
  probes.forEach((ok, i) => {
    const r = observe(health, { ok, problem: ok ? undefined : `fail ${i}` }, `t${i + 1}`, rule);
    health = r.health;
    if (r.transition) transitions.push(`${r.transition}@${i}`);
  });
  return { status: health.status, transitions };
}

describe('region health hysteresis', () => {
  it('ignores isolated failures: a flapping region never goes down', () => {
    expect(run([false, true, false, false, true, false, true, false, false, true])).toEqual({
      status: 'up',
      transitions: [],
    });
  });

  it('declares down exactly once per outage, and up after enough good probes', () => {
    expect(run([false, false, false, false, false, true, false, true, true, true])).toEqual({
      status: 'up',
      transitions: ['down@2', 'up@8'],
    });
  });

  it('keeps the last problem for the operator', () => {
    const r = observe(start, { ok: false, problem: 'S3 503' }, 't1', rule);
    expect(r.health).toEqual({ status: 'up', streak: 1, since: 't0', lastProblem: 'S3 503' });
  });
});
