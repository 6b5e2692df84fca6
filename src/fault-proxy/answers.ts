import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorFault, ErrorFormat } from './faults';

export interface ErrorAnswer {
  status: number;
  format: ErrorFormat;
  code: string;
  message: string;
  retryAfterSeconds?: number;
}

/** The messages AWS sends with these codes, so logs of a faulted run read like a real outage. */
const AWS_MESSAGES: Record<string, string> = {
  SlowDown: 'Please reduce your request rate.',
  InternalError: 'We encountered an internal error. Please try again.',
  Throttling: 'Rate exceeded',
  PriorRequestNotComplete: 'The request was rejected because Route 53 was still processing a prior request.',
};

function defaultCode(format: ErrorFormat, status: number): string {
  switch (format) {
    case 's3':
      return status === 503 ? 'SlowDown' : status >= 500 ? 'InternalError' : 'InvalidRequest';
    case 'route53':
      return status === 503 ? 'ServiceUnavailable' : status >= 500 ? 'InternalFailure' : 'Throttling';
    case 'json':
      // The stats service's own codes for these statuses.
      return status === 503 ? 'Unavailable' : status >= 500 ? 'InternalError' : 'BadRequest';
  }
}

export function faultAnswer(fault: ErrorFault, listener: string): ErrorAnswer {
  const code = fault.code ?? defaultCode(fault.format, fault.status);
  return {
    status: fault.status,
    format: fault.format,
    code,
    message: fault.message ?? AWS_MESSAGES[code] ?? `injected by fault proxy listener ${listener}`,
    retryAfterSeconds: fault.retryAfterSeconds,
  };
}

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Answers with an error body shaped like the service's own, request ID headers included. */
export function sendError(res: ServerResponse, answer: ErrorAnswer): void {
  const requestId = randomUUID();
  const code = escapeXml(answer.code);
  const message = escapeXml(answer.message);
  const headers: Record<string, string> = {};
  let body: string;
  switch (answer.format) {
    case 's3':
      headers['content-type'] = 'application/xml';
      headers['x-amz-request-id'] = requestId;
      body =
        '<?xml version="1.0" encoding="UTF-8"?>\n' +
        `<Error><Code>${code}</Code><Message>${message}</Message><RequestId>${requestId}</RequestId></Error>`;
      break;
    case 'route53':
      headers['content-type'] = 'text/xml';
      headers['x-amzn-requestid'] = requestId;
      body =
        '<?xml version="1.0"?>\n' +
        '<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error>' +
        `<Type>${answer.status < 500 ? 'Sender' : 'Receiver'}</Type><Code>${code}</Code><Message>${message}</Message>` +
        `</Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
      break;
    case 'json':
      headers['content-type'] = 'application/json';
      body = JSON.stringify({ error: answer.code, message: answer.message });
      break;
  }
  if (answer.retryAfterSeconds !== undefined) headers['retry-after'] = String(answer.retryAfterSeconds);
  headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(answer.status, headers).end(body);
}

/** Ends the client's connection with a TCP reset and no answer, as a crashed server or a middlebox would. */
export function drop(res: ServerResponse): void {
  const { socket } = res;
  // A client that already hung up (its FIN arrived) gets a plain close: resetting that half-closed socket
  // left a handle libuv kept polling, and the process never exited.
  if (socket && !socket.destroyed && !socket.readableEnded) socket.resetAndDestroy();
  else if (socket && !socket.destroyed) socket.destroy();
  else res.destroy();
}

/**
 * The proxy's own failure to reach the upstream. AWS SDKs get an S3-style XML body they can parse (both the
 * S3 and the Route 53 SDK read `<Error><Code>`), everything else the stats service's JSON shape.
 */
export function badGateway(req: IncomingMessage, listener: string, reason: string): ErrorAnswer {
  const signedByAws = req.headers.authorization?.startsWith('AWS4-HMAC-SHA256') ?? false;
  return {
    status: 502,
    format: signedByAws ? 's3' : 'json',
    code: 'BadGateway',
    message: `fault proxy listener ${listener}: upstream failed: ${reason}`,
  };
}
