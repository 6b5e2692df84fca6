import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  SESSION_ENDED,
  type HolderSessionInput,
  type HolderSessionStatus,
  type SessionRenewal,
} from '../shared/holderSession';
import {
  endHolderSessionUpdate,
  holderHoldsLedgerSignal,
  holderSessionEndedSignal,
  holderSessionStatusQuery,
  renewHolderSessionUpdate,
} from '../shared/messages';

const MAX_HISTORY_EVENTS = 5_000;

/**
 * One enforcing process's lease on all the cap allowance it holds (issue 15): the holder renews it once per
 * period, whatever number of caps it spends from. Each ledger tells the session before it first grants to
 * the holder; when the lease ends unrenewed (the holder died or was cut off) or the holder closes it, the
 * session tells those ledgers when it ended, and they strand and reclaim what the holder did not report,
 * as they did when each grant had a lease of its own. Then it ends: a holder that comes back starts another.
 * ID `cap-holder-<holder>[-<generation>]`; started by the holder's first renewal (update-with-start).
 */
export async function capHolderSession(input: HolderSessionInput): Promise<HolderSessionStatus> {
  let leaseEndsAt = input.state?.leaseEndsAt ?? Date.now() + input.leaseMs;
  const ledgers = new Set<string>(input.state?.ledgers ?? []);
  let ended = false;
  const session = workflowInfo().workflowId;
  const iso = (ms: number): string => new Date(ms).toISOString();
  const status = (): HolderSessionStatus => ({
    holder: input.holder,
    region: input.region,
    leaseEndsAt: iso(leaseEndsAt),
    ledgers: [...ledgers],
    ended,
  });
  const show = (): void =>
    setCurrentDetails(
      `**${input.holder}** (${input.region}) — ${ended ? 'ended' : 'lease ends'} ${iso(leaseEndsAt)} · ` +
        `holds allowance of ${ledgers.size} cap ledger(s)`,
    );

  setHandler(holderSessionStatusQuery, status);
  setHandler(
    renewHolderSessionUpdate,
    ({ leaseMs }) => {
      // Never shortened: the holder counts its lease from before it asked, so a late answer is still safe.
      leaseEndsAt = Math.max(leaseEndsAt, Date.now() + leaseMs);
      return { leaseEndsAt: iso(leaseEndsAt) };
    },
    {
      validator: (r: SessionRenewal) => {
        if (typeof r?.leaseMs !== 'number' || !(r.leaseMs > 0))
          throw new Error('leaseMs is a number above 0');
        // Once the lease ran out the ledgers may be told: the holder must not spend again under this session.
        if (ended || Date.now() >= leaseEndsAt)
          throw ApplicationFailure.create({ type: SESSION_ENDED, message: `session ${session} ended` });
      },
    },
  );
  setHandler(endHolderSessionUpdate, ({ settled }) => {
    for (const ledger of settled ?? []) ledgers.delete(ledger);
    leaseEndsAt = Math.min(leaseEndsAt, Date.now());
    ended = true;
  });
  setHandler(holderHoldsLedgerSignal, (ledger) => {
    ledgers.add(ledger);
  });

  show();
  // The timer stays armed across renewals (each renewal only moves leaseEndsAt): when it fires early, it is
  // armed again for the rest. One timer per lease, not two history events per renewal.
  while (!ended && Date.now() < leaseEndsAt) {
    if (tooLong(input.maxHistoryEvents)) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof capHolderSession>({
        ...input,
        state: { leaseEndsAt, ledgers: [...ledgers] },
      });
    }
    await condition(() => ended || tooLong(input.maxHistoryEvents), Math.max(1, leaseEndsAt - Date.now()));
    show();
  }
  ended = true;
  show();
  const endedAt = iso(leaseEndsAt);
  // A ledger that signals while these go out is told too (it granted under a session about to end).
  const told = new Set<string>();
  for (;;) {
    const untold = [...ledgers].filter((l) => !told.has(l));
    if (untold.length === 0) break;
    await Promise.all(
      untold.map(async (ledger) => {
        told.add(ledger);
        try {
          await getExternalWorkflowHandle(ledger).signal(holderSessionEndedSignal, {
            holder: input.holder,
            session,
            endedAt,
          });
        } catch {
          // That ledger finished (its window closed): nothing of it is held any more.
        }
      }),
    );
  }
  await condition(allHandlersFinished);
  return status();
}

function tooLong(maxEvents = MAX_HISTORY_EVENTS): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength > maxEvents;
}
