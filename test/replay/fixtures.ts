import { join } from 'node:path';
import { temporal } from '@temporalio/proto';

export const HISTORIES_DIR = join(__dirname, 'histories');

const History = temporal.api.history.v1.History;
/** protobufjs' own JSON form: int64 as strings, enums by name, bytes as base64. */
const AS_JSON = { longs: String, enums: String, bytes: String } as const;

/*
 * Why not the CLI's `temporal workflow show -o json` and the SDK's historyFromJSON: with this lockfile,
 * @temporalio/common and @temporalio/proto each load their own copy of protobufjs 8, and historyFromJSON
 * fails with "type must be a Type". protobufjs' object form round-trips through @temporalio/proto alone.
 */
export function historyToFixture(history: temporal.api.history.v1.IHistory): unknown {
  return History.toObject(History.fromObject(history), AS_JSON);
}

export function historyFromFixture(fixture: unknown): temporal.api.history.v1.History {
  return History.fromObject(fixture as Record<string, unknown>);
}
