import type { Client } from '@temporalio/client';
import type { AppConfig } from '../../src/config/schema';
import { CapEnforcer, type HolderLedgers, type HolderSessions } from '../../src/client/capEnforcer';
import type { AllowanceGrant, AllowanceRequest, RegionRevocation } from '../../src/shared/capLedger';
import type { StoredCap } from '../../src/shared/caps';
import { testConfig } from './env';

/**
 * A CapEnforcer whose ledger grants what is asked (up to the cap's limit) after `answersAfterMs()`, whose
 * give-back is the test's, and whose registry serves `caps()`.
 */
export function fakeHolder(opts: {
  caps: () => StoredCap[];
  settings?: Partial<AppConfig['caps']>;
  answersAfterMs?: () => number;
  giveBack?: HolderLedgers['giveBack'];
  /** The session's answer to a renewal (default: renewed). */
  renew?: HolderSessions['renew'];
  revocations?: () => RegionRevocation[];
}): {
  enforcer: CapEnforcer;
  requests: AllowanceRequest[];
  requestedAt: number[];
  /** When each session renewal was sent, and under which session ID. */
  renewals: { at: number; session: string }[];
  /** The most requests that were waiting for their answer at once. */
  peakInFlight: () => number;
} {
  const renewals: { at: number; session: string }[] = [];
  const sessions: HolderSessions = {
    renew: (ref, leaseMs) => {
      renewals.push({ at: Date.now(), session: ref.id });
      return (
        opts.renew?.(ref, leaseMs) ??
        Promise.resolve({ leaseEndsAt: new Date(Date.now() + leaseMs).toISOString() })
      );
    },
    end: () => Promise.resolve(),
  };
  const requests: AllowanceRequest[] = [];
  const requestedAt: number[] = [];
  let inFlight = 0;
  let peak = 0;
  const ledgers: HolderLedgers = {
    request: async (req) => {
      requests.push(req);
      requestedAt.push(Date.now());
      peak = Math.max(peak, ++inFlight);
      const after = opts.answersAfterMs?.() ?? 0;
      if (after > 0) await new Promise((r) => setTimeout(r, after));
      inFlight--;
      const grant: AllowanceGrant = {
        granted: Math.min(req.wantGranted, req.cap.limit),
        leaseEndsAt: new Date(Date.now() + req.leaseMs).toISOString(),
        overdraft: 0,
        closed: false,
      };
      return grant;
    },
    giveBack: opts.giveBack ?? (() => Promise.resolve()),
  };
  const config = testConfig();
  const enforcer = new CapEnforcer(
    {} as Client,
    { ...config, caps: { ...config.caps, ...opts.settings } },
    {
      region: 'us-east-1',
      ledgers,
      sessions,
      registry: {
        peek: () => Promise.resolve(opts.caps()),
        peekRevocations: () => Promise.resolve(opts.revocations?.() ?? []),
      },
    },
  );
  return { enforcer, requests, requestedAt, renewals, peakInFlight: () => peak };
}
