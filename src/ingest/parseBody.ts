/** A request body split into records; `malformed` names the NDJSON lines that are not JSON. */
export interface ParsedBody {
  records: unknown[];
  /** Index (position among the non-empty lines) of each line that did not parse, and why. */
  malformed: { index: number; reason: string }[];
  /** Index of the first record in `records`, per position in the request (malformed lines keep their slot). */
  indexes: number[];
}

/**
 * NDJSON: one record per non-empty line, so one bad line costs only itself. JSON: an array of records or
 * `{ "events": [...] }`; a syntax error there has no record to blame, so the whole body is refused.
 */
export function parseNdjson(text: string): ParsedBody {
  const out: ParsedBody = { records: [], malformed: [], indexes: [] };
  let index = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.records.push(JSON.parse(line));
      out.indexes.push(index);
    } catch (err) {
      out.malformed.push({ index, reason: `invalid JSON: ${(err as Error).message}` });
    }
    index++;
  }
  return out;
}

export function recordsOfJson(body: unknown): unknown[] | undefined {
  if (Array.isArray(body)) return body as unknown[];
  if (body && typeof body === 'object' && Array.isArray((body as { events?: unknown }).events)) {
    return (body as { events: unknown[] }).events;
  }
  return undefined;
}
