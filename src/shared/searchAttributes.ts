import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * The project's custom search attributes: what operators filter on in the Temporal UI and CLI
 * (e.g. `StormproofBatchState = "captured"` lists the backlog). The local stack registers every key listed
 * here; a real cluster needs them registered once (docs/operations.md).
 */
export const searchAttributes = {
  /** Lifecycle of an archive batch: pending, captured, archived, delivered, done. */
  batchState: defineSearchAttributeKey('StormproofBatchState', SearchAttributeType.KEYWORD),
  /** Origin region of a batch, or the region an operation concerns. */
  region: defineSearchAttributeKey('StormproofRegion', SearchAttributeType.KEYWORD),
  /** Target region of a failover or failback. */
  targetRegion: defineSearchAttributeKey('StormproofTargetRegion', SearchAttributeType.KEYWORD),
  /** Current phase of a failover, failback or reconciliation. */
  phase: defineSearchAttributeKey('StormproofPhase', SearchAttributeType.KEYWORD),
  /** Events in a batch or replayed by a reconciliation. */
  eventCount: defineSearchAttributeKey('StormproofEventCount', SearchAttributeType.INT),
} as const;

/** `Name=Type` pairs in the form `temporal server start-dev --search-attribute` takes. */
export function searchAttributeFlags(): string[] {
  const cliType: Record<string, string> = {
    [SearchAttributeType.KEYWORD]: 'Keyword',
    [SearchAttributeType.INT]: 'Int',
    [SearchAttributeType.TEXT]: 'Text',
    [SearchAttributeType.DOUBLE]: 'Double',
    [SearchAttributeType.BOOL]: 'Bool',
    [SearchAttributeType.DATETIME]: 'Datetime',
    [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
  };
  return Object.values(searchAttributes).map((k) => `${k.name}=${cliType[k.type]}`);
}
