/** Reads one Prometheus endpoint: its text and a way to sum the series of a name matching some labels. */
export async function scrape(
  url: string,
): Promise<{ text: string; value: (name: string, labels?: Record<string, string>) => number }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  const text = await res.text();
  const value = (name: string, labels: Record<string, string> = {}): number => {
    let sum = 0;
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
      if (!m || m[1] !== name) continue;
      const have: Record<string, string | undefined> = Object.fromEntries(
        [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
      );
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
    }
    return sum;
  };
  return { text, value };
}
