import { userInfo } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CapsClient } from '../client/caps';
import { CapLedgerClient } from '../client/capLedgerClient';
import { capWindowOf, holderLease, type CapLedgerStatus } from '../shared/capLedger';
import {
  CAP_METRICS,
  CAP_MODES,
  CAP_WINDOWS,
  describeCap,
  type CapDefinition,
  type StoredCap,
} from '../shared/caps';
import { withTemporal } from './withTemporal';

interface DefinitionOptions {
  id: string;
  offer?: string;
  affiliate?: string;
  metric?: CapDefinition['metric'];
  payoutAttribute?: string;
  window?: CapDefinition['window']['kind'];
  timeZone?: string;
  limit?: number;
  mode?: CapDefinition['mode'];
  overdraft?: number;
  fallbackUrl?: string;
  by: string;
  json?: boolean;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`expected a positive number, got ${value}`);
  return n;
}

/** The definition options, shared by `create` (required ones enforced there) and `update` (all optional). */
function definitionOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--id <id>', 'the cap ID (lower-case letters, digits and -)')
    .option('--offer <offerId>', 'the offer it caps')
    .option('--affiliate <affiliateId>', 'only this affiliate’s events of the offer')
    .addOption(new Option('--metric <metric>', 'what it counts').choices(CAP_METRICS))
    .option('--payout-attribute <name>', 'the conversion attribute a payout cap sums (default payout)')
    .addOption(new Option('--window <window>', 'when it resets').choices(CAP_WINDOWS))
    .option('--time-zone <tz>', 'IANA time zone of day and month windows (default UTC)')
    .option('--limit <n>', 'the most it may count or sum per window', positiveNumber)
    .addOption(
      new Option('--mode <mode>', 'hard: never exceeded; soft: bounded overdraft').choices(CAP_MODES),
    )
    .option('--overdraft <n>', 'soft caps: what each region may overdraw', positiveNumber)
    .option('--fallback-url <url>', 'click caps: where a click past the cap is redirected')
    .option('--by <name>', 'who makes the change (recorded)', userInfo().username)
    .option('--json', 'machine-readable output');
}

/** The definition the options describe, over `base` (update) or from nothing (create). */
function definitionOf(o: DefinitionOptions, base?: CapDefinition): unknown {
  const kind = o.window ?? base?.window.kind;
  const timeZone = o.timeZone ?? (base && 'timeZone' in base.window ? base.window.timeZone : 'UTC');
  const mode = o.mode ?? base?.mode;
  return {
    id: o.id,
    scope: {
      offerId: o.offer ?? base?.scope.offerId,
      ...((o.affiliate ?? base?.scope.affiliateId) && {
        affiliateId: o.affiliate ?? base?.scope.affiliateId,
      }),
    },
    metric: o.metric ?? base?.metric,
    ...((o.payoutAttribute ?? base?.payoutAttribute) && {
      payoutAttribute: o.payoutAttribute ?? base?.payoutAttribute,
    }),
    window: kind === 'lifetime' ? { kind } : { kind, timeZone },
    limit: o.limit ?? base?.limit,
    mode,
    // Switching a soft cap to hard drops its overdraft rather than refusing the switch.
    ...(mode === 'soft' &&
      (o.overdraft ?? base?.overdraftPerRegion) !== undefined && {
        overdraftPerRegion: o.overdraft ?? base?.overdraftPerRegion,
      }),
    ...((o.fallbackUrl ?? base?.fallbackUrl) && { fallbackUrl: o.fallbackUrl ?? base?.fallbackUrl }),
  };
}

const withCaps = <T>(fn: (caps: CapsClient) => Promise<T>): Promise<T> =>
  withTemporal((client, config) => fn(new CapsClient(client, config)));

const show = (c: StoredCap, json?: boolean): string =>
  json
    ? JSON.stringify(c, null, 2)
    : `${c.id} (revision ${c.revision}, ${c.updatedAt} by ${c.updatedBy}): ${describeCap(c)}${
        c.fallbackUrl ? `; clicks past it go to ${c.fallbackUrl}` : ''
      }`;

/** `stormproof caps create|update|delete|list`: the cap registry's definitions. */
export function capsCommand(): Command {
  const caps = new Command('caps').description(
    'cap definitions: what an offer (or offer and affiliate) may count or spend per day, month or lifetime',
  );
  definitionOptions(
    caps.command('create').description('add a cap (refused, naming each bad field, if invalid)'),
  ).action(async (o: DefinitionOptions) => {
    // The registry validates (it is the system of record); the CLI only assembles what was given.
    const stored = await withCaps((c) => c.create(definitionOf(o) as CapDefinition, o.by));
    console.log(show(stored, o.json));
  });
  definitionOptions(
    caps
      .command('update')
      .description('change a cap: the options given replace those fields, the rest stays'),
  ).action(async (o: DefinitionOptions) => {
    const stored = await withCaps(async (c) => {
      const current = await c.get(o.id);
      if (!current) throw new Error(`no cap ${o.id}`);
      // Refused if someone else changed it between this read and the update.
      return c.update(definitionOf(o, current) as CapDefinition, o.by, current.revision);
    });
    console.log(show(stored, o.json));
  });
  caps
    .command('delete')
    .description('remove a cap')
    .requiredOption('--id <id>', 'the cap ID')
    .option('--by <name>', 'who makes the change (recorded)', userInfo().username)
    .action(async (o: { id: string; by: string }) => {
      const removed = await withCaps((c) => c.delete(o.id, o.by));
      console.log(`deleted ${removed.id} (was: ${describeCap(removed)})`);
    });
  caps
    .command('list')
    .description('every cap definition')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const list = await withCaps((c) => c.list());
      if (o.json) return console.log(JSON.stringify(list, null, 2));
      if (list.length === 0) return console.log('no caps');
      for (const c of list) console.log(show(c));
    });
  caps
    .command('status')
    .description("each cap's window now: limit, spent, committed, grants and leases per holder")
    .option('--id <id>', 'only this cap')
    .option('--window <key>', 'another window than the current one (e.g. 2026-12-03, 2026-11, lifetime)')
    .option('--json', 'machine-readable output')
    .action(async (o: { id?: string; window?: string; json?: boolean }) => {
      const rows = await withTemporal(async (client, config) => {
        const ledgers = new CapLedgerClient(client, config);
        const list = (await new CapsClient(client, config).list()).filter((c) => !o.id || c.id === o.id);
        if (o.id && list.length === 0) throw new Error(`no cap ${o.id}`);
        return Promise.all(
          list.map(async (cap) => {
            const window = o.window ?? capWindowOf(cap, Date.now()).key;
            return { cap, window, status: await ledgers.status(cap.id, window) };
          }),
        );
      });
      if (o.json) return console.log(JSON.stringify(rows, null, 2));
      if (rows.length === 0) return console.log('no caps');
      for (const r of rows) console.log(statusText(r.cap, r.window, r.status));
    });
  return caps;
}

/** A ledger in a few lines: the figures an on-call engineer needs, then one line per holder. */
function statusText(cap: StoredCap, window: string, s: CapLedgerStatus | undefined): string {
  const head = `${cap.id} · ${window} · ${describeCap(cap)}`;
  if (!s) return `${head}\n  no holder has asked for this window yet (nothing spent)`;
  const lines = [
    head,
    `  limit ${s.limit} · spent ${s.spent} · committed ${s.committed} · available ${s.available} · reclaimed ${s.reclaimed}${s.overshoot ? ` · OVERSHOOT ${s.overshoot}` : ''}${s.closed ? ' · closed' : ''}`,
    ...(s.revoked ?? []).map(
      (r) =>
        `  ${r.region} revoked by ${r.operationId} since ${r.since}: ${r.returned} given back, ${r.reclaimed} reclaimed after a lease`,
    ),
    ...s.holders.map(
      (h) =>
        `  ${h.holder} (${h.region}) ${h.state}: granted ${h.granted}, spent ${h.spent}${h.stranded ? `, stranded ${h.stranded}` : ''}, ${holderLease(h)}`,
    ),
  ];
  return lines.join('\n');
}
