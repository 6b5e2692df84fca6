import {
  allHandlersFinished,
  condition,
  continueAsNew,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  describeCap,
  describeCapErrors,
  parseCap,
  type CapChange,
  type CapDefinition,
  type CapDeletion,
  type CapRegistryInput,
  type StoredCap,
} from '../shared/caps';
import { checkRevocation, type RegionRevocation } from '../shared/capLedger';
import {
  capRevocationsQuery,
  capsQuery,
  createCapUpdate,
  deleteCapUpdate,
  liftCapRevocationUpdate,
  recordCapRevocationUpdate,
  updateCapUpdate,
} from '../shared/messages';

/** A registry changes a few times a day; this keeps its history small enough to replay at once. */
const MAX_HISTORY_EVENTS = 2_000;

/**
 * The system of record for cap definitions (issue 15): one long-running workflow, changed only through
 * validated Updates, so a definition is durable the moment it is accepted and every change says who made it.
 * Each Update is validated before it is accepted: a refused change leaves no trace in history.
 */
export async function capRegistry(input: CapRegistryInput = {}): Promise<void> {
  const caps = new Map<string, StoredCap>((input.caps ?? []).map((c) => [c.id, c]));
  // One per region, as on the ledgers: the first failover's operation holds it until a restore lifts it.
  const revoked = new Map<string, RegionRevocation>((input.revoked ?? []).map((r) => [r.region, r]));

  const valid = (change: CapChange): CapDefinition => {
    const parsed = parseCap(change?.cap);
    if ('errors' in parsed) throw new Error(describeCapErrors(change?.cap, parsed.errors));
    if (!change.by?.trim()) throw new Error('say who makes the change (by)');
    return parsed.cap;
  };
  const known = (id: string): StoredCap => {
    const cap = caps.get(id);
    if (!cap) throw new Error(`no cap ${id} (known: ${[...caps.keys()].join(', ') || 'none'})`);
    return cap;
  };

  setHandler(capsQuery, () => [...caps.values()]);
  setHandler(capRevocationsQuery, () => [...revoked.values()]);
  setHandler(
    recordCapRevocationUpdate,
    (r) => {
      if (!revoked.has(r.region)) revoked.set(r.region, { region: r.region, operationId: r.operationId });
      show();
      return [...revoked.values()];
    },
    { validator: checkRevocation },
  );
  setHandler(
    liftCapRevocationUpdate,
    (r) => {
      revoked.delete(r.region);
      show();
      return [...revoked.values()];
    },
    { validator: checkRevocation },
  );
  setHandler(
    createCapUpdate,
    (change) => {
      const now = new Date().toISOString();
      const cap: StoredCap = {
        ...valid(change),
        revision: 1,
        createdAt: now,
        updatedAt: now,
        updatedBy: change.by,
      };
      caps.set(cap.id, cap);
      show();
      return cap;
    },
    {
      validator: (change: CapChange) => {
        const cap = valid(change);
        if (caps.has(cap.id)) throw new Error(`cap ${cap.id} exists already (update it, or delete it first)`);
      },
    },
  );
  setHandler(
    updateCapUpdate,
    (change) => {
      const before = known(change.cap.id);
      const cap: StoredCap = {
        ...valid(change),
        revision: before.revision + 1,
        createdAt: before.createdAt,
        updatedAt: new Date().toISOString(),
        updatedBy: change.by,
      };
      caps.set(cap.id, cap);
      show();
      return cap;
    },
    {
      validator: (change: CapChange) => {
        const cap = known(valid(change).id);
        if (change.expectedRevision !== undefined && change.expectedRevision !== cap.revision)
          throw new Error(
            `cap ${cap.id} is at revision ${cap.revision}, not ${change.expectedRevision}: it changed meanwhile (last by ${cap.updatedBy})`,
          );
      },
    },
  );
  setHandler(
    deleteCapUpdate,
    (req: CapDeletion) => {
      const cap = known(req.id);
      caps.delete(req.id);
      show();
      return cap;
    },
    {
      validator: (req: CapDeletion) => {
        known(req?.id);
        if (!req.by?.trim()) throw new Error('say who makes the change (by)');
      },
    },
  );

  function show(): void {
    const rows = [...caps.values()].map(
      (c) => `| ${c.id} | ${describeCap(c)} | ${c.revision} | ${c.updatedAt} by ${c.updatedBy} |`,
    );
    setCurrentDetails(
      [
        `**${caps.size} cap(s)**`,
        '',
        ...(rows.length
          ? ['| cap | definition | revision | last change |', '| --- | --- | --- | --- |', ...rows]
          : []),
        ...[...revoked.values()].map(
          (r) => `\n**${r.region} revoked** by ${r.operationId}: its holders are granted nothing`,
        ),
      ].join('\n'),
    );
  }

  show();
  // Continue-as-new with no Update in flight, carrying the definitions, so nothing is lost across runs.
  await condition(() => tooLong(input.maxHistoryEvents) && allHandlersFinished());
  return continueAsNew<typeof capRegistry>({
    ...input,
    caps: [...caps.values()],
    revoked: [...revoked.values()],
  });
}

function tooLong(maxEvents = MAX_HISTORY_EVENTS): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength > maxEvents;
}
