import { workerRegistry } from '../../src/metrics/registries';
import { setFailoverPhase } from '../../src/metrics/workerMetrics';

const series = async (): Promise<string[]> =>
  (await workerRegistry.metrics()).split('\n').filter((l) => l.startsWith('stormproof_failover_phase{'));

describe('failover phase gauge (the API the failover saga sets)', () => {
  it('marks the current phase of each region with 1 and the phase it left with 0', async () => {
    setFailoverPhase('eu-west-9', 'preflight');
    setFailoverPhase('eu-west-9', 'shifting-traffic');
    setFailoverPhase('ap-south-9', 'idle');
    expect(await series()).toEqual(
      expect.arrayContaining([
        'stormproof_failover_phase{region="eu-west-9",phase="preflight"} 0',
        'stormproof_failover_phase{region="eu-west-9",phase="shifting-traffic"} 1',
        'stormproof_failover_phase{region="ap-south-9",phase="idle"} 1',
      ]),
    );
  });
});
