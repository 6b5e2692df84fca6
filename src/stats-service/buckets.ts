import { trackingEventSchema } from '../shared/event';
import type { Granularity } from './contract';

export const GRANULARITY_MS: Record<Granularity, number> = { minute: 60_000, hour: 3_600_000 };

/** Start (epoch ms, UTC) of the bucket holding `epochMs`; floor, so instants before 1970 work too. */
export function bucketStart(epochMs: number, granularity: Granularity): number {
  const size = GRANULARITY_MS[granularity];
  return Math.floor(epochMs / size) * size;
}

export function isAligned(epochMs: number, granularity: Granularity): boolean {
  return bucketStart(epochMs, granularity) === epochMs;
}

/** A position in a bucket's ID listing, which is ordered by minute, then ID. */
export interface IdPosition {
  /** Start of the event's minute bucket, epoch ms. */
  minute: number;
  id: string;
}

/**
 * Opaque keyset cursor for ID listings: the last position returned, base64url-encoded so clients treat
 * it as a token rather than build their own.
 */
export function encodeCursor(position: IdPosition): string {
  return Buffer.from(`${position.minute}/${position.id}`, 'utf8').toString('base64url');
}

/** The position a cursor stands for; undefined for anything this API did not issue. */
export function decodeCursor(cursor: string): IdPosition | undefined {
  const match = /^(-?\d+)\/(.+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match?.[2] || !trackingEventSchema.shape.id.safeParse(match[2]).success) return undefined;
  return { minute: Number(match[1]), id: match[2] };
}
