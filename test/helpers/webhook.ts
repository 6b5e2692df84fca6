import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingMessage['headers'];
  body: { text: string; blocks: unknown[] };
}

export interface WebhookReceiver {
  url: string;
  got: Received[];
  /** The status to answer with; while `hold` is set, each answer waits for it first. */
  answer: { status: number; hold?: Promise<void> };
  close(): Promise<void>;
}

/** A webhook receiver over real HTTP that answers with the status the test sets (0: never answers). */
export async function webhookReceiver(): Promise<WebhookReceiver> {
  const got: Received[] = [];
  const answer: WebhookReceiver['answer'] = { status: 200 };
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      got.push({ headers: req.headers, body: JSON.parse(data) as Received['body'] });
      void (answer.hold ?? Promise.resolve()).then(() => {
        if (answer.status) res.writeHead(answer.status).end(answer.status === 200 ? 'ok' : 'invalid_payload');
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    got,
    answer,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
