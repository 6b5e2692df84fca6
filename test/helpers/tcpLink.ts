import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpLink {
  /** host:port that reaches the upstream through this link. */
  address: string;
  /**
   * Cuts the link at the TCP level: open connections go silent (bytes neither way, nothing closed, as a
   * partition looks to both ends) and new ones are accepted and held silent too.
   */
  cut(): void;
  /** Ends the partition: silent connections are dropped (the client reconnects), new ones pass. */
  heal(): void;
  close(): Promise<void>;
}

/** A TCP forwarder between one client process and an upstream (e.g. an ingest and Temporal's frontend). */
export async function tcpLink(upstream: string): Promise<TcpLink> {
  const [host, port] = [upstream.slice(0, upstream.lastIndexOf(':')), Number(upstream.split(':').pop())];
  let isCut = false;
  const open = new Set<Socket>();
  const track = (s: Socket): void => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => s.destroy());
  };
  const server: Server = createServer((client) => {
    track(client);
    if (isCut) return; // held silent
    const up = connect({ host, port });
    track(up);
    // No pipe(): while cut, data is dropped rather than buffered and delivered later.
    client.on('data', (d: Buffer) => void (isCut || up.write(d)));
    up.on('data', (d: Buffer) => void (isCut || client.write(d)));
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port: own } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${own}`,
    cut: () => void (isCut = true),
    heal: () => {
      isCut = false;
      for (const s of open) s.destroy();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy();
        server.close(() => r());
      }),
  };
}
