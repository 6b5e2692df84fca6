import type { FastifyInstance, FastifyReply } from 'fastify';

/** The cookie the Web UI's decode requests carry after a sign-in at /login. */
export const TOKEN_COOKIE = 'stormproof_codec_token';
const COOKIE_MAX_AGE_SECONDS = 12 * 60 * 60;

/** The token a request carries in the sign-in cookie, if any. */
export function tokenFromCookie(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === TOKEN_COOKIE) return value.join('=');
  }
  return undefined;
}

/**
 * A sign-in page for browsers. The Temporal Web UI cannot attach a static bearer token to its decode calls
 * (its "pass access token" forwards the UI's own OIDC login), but with "Include cross-origin credentials" on
 * it sends cookies: signing in here once stores the token in an HttpOnly, SameSite=Lax cookie, which the
 * UI's same-site calls then carry. `isValid` is the server's constant-time token check.
 */
export function registerLogin(
  app: FastifyInstance,
  isValid: (token: string) => boolean,
  secure: boolean,
): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  app.get('/login', (_request, reply) => page(reply, 200, ''));
  app.post<{ Body: { token?: unknown } }>('/login', (request, reply) => {
    const token = typeof request.body?.token === 'string' ? request.body.token.trim() : '';
    if (!isValid(token)) return page(reply, 401, 'That token is not accepted.');
    const attributes = ['HttpOnly', 'SameSite=Lax', 'Path=/', `Max-Age=${COOKIE_MAX_AGE_SECONDS}`];
    if (secure) attributes.push('Secure');
    void reply.header('set-cookie', `${TOKEN_COOKIE}=${token}; ${attributes.join('; ')}`);
    return page(
      reply,
      200,
      'Signed in. In the Temporal UI, open the codec server settings, turn on ' +
        '"Include cross-origin credentials" and reload: payloads show decoded.',
    );
  });
}

function page(reply: FastifyReply, status: number, message: string): FastifyReply {
  const note = message ? `<p>${message}</p>` : '';
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(
      `<!doctype html><title>stormproof codec server</title><h1>Decode payloads in the Temporal UI</h1>${note}` +
        '<form method="post" action="/login"><label>Codec server token ' +
        '<input name="token" type="password" autocomplete="off" required></label> <button>Sign in</button></form>',
    );
}
