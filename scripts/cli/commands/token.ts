/**
 * `scriptorium token --email E --password P`: signs in with the Identity Toolkit REST API
 * (`accounts:signInWithPassword`) and prints the Firebase ID token, for curl and scripts. Locally it
 * asks the Auth emulator of the stack's config; with a Firebase web API key (`--firebase-api-key` or
 * SCRIPTORIUM_FIREBASE_API_KEY, the `apiKey` of the web app config terraform outputs) it asks
 * Identity Platform in production, where repeated failures are throttled.
 */
import { z } from 'zod';
import { parseCommand } from '../args.js';
import { EXIT, UsageError, CliFailure, type CliContext, type Command } from '../io.js';
import { describeFetchError, hostUrl, loadConfig } from '../session.js';

const USAGE = `Usage: scriptorium token --email E [--password P] [--firebase-api-key K] [--json] [--config FILE]

Prints an ID token for the user (valid one hour): curl -H "Authorization: Bearer $(scriptorium token …)".
The password is read from --password, else SCRIPTORIUM_PASSWORD. Without a Firebase API key the
local stack's Auth emulator is asked; with one (--firebase-api-key or SCRIPTORIUM_FIREBASE_API_KEY),
Identity Platform (production).

Options:
  --email E              the user's e-mail
  --password P           the password (prefer SCRIPTORIUM_PASSWORD: arguments show in ps)
  --firebase-api-key K   the Firebase web API key of the production project
  --json                 print {idToken, refreshToken, expiresIn, uid} instead of the token alone
  --config FILE          local stack config (default: $SCRIPTORIUM_LOCAL_CONFIG or .scriptorium/local.json)
  -h, --help             show this help
`;

const SignInSchema = z.object({ idToken: z.string(), refreshToken: z.string(), expiresIn: z.string(), localId: z.string() });
const ErrorSchema = z.object({ error: z.object({ message: z.string() }) });

/** The sign-in endpoint: Identity Platform with a web API key, else the local Auth emulator. */
export function signInUrl(apiKey: string | undefined, authEmulatorHost: () => string): string {
  const base = apiKey ? 'https://identitytoolkit.googleapis.com' : `${hostUrl(authEmulatorHost())}/identitytoolkit.googleapis.com`;
  return `${base}/v1/accounts:signInWithPassword?key=${encodeURIComponent(apiKey ?? 'local')}`;
}

async function run(ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(ctx.argv, { email: { type: 'string' }, password: { type: 'string' }, 'firebase-api-key': { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0] ?? ''}'`);
  const password = values.password ?? ctx.env.SCRIPTORIUM_PASSWORD;
  if (!values.email) throw new UsageError('--email is required');
  if (!password) throw new UsageError('give --password or SCRIPTORIUM_PASSWORD');
  const apiKey = values['firebase-api-key'] ?? ctx.env.SCRIPTORIUM_FIREBASE_API_KEY;
  const url = signInUrl(apiKey, () => loadConfig(values.config, ctx.env).authEmulatorHost);
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: values.email, password, returnSecureToken: true }), signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw new CliFailure(`cannot reach the sign-in endpoint: ${describeFetchError(err)}`, 'SIGN_IN_FAILED');
  }
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    // INVALID_LOGIN_CREDENTIALS, USER_DISABLED, TOO_MANY_ATTEMPTS_TRY_LATER (production throttling)…
    const reason = ErrorSchema.safeParse(body);
    throw new CliFailure(`sign-in refused for ${values.email}: ${reason.success ? reason.data.error.message : `HTTP ${res.status}`}`, 'SIGN_IN_FAILED');
  }
  const parsed = SignInSchema.safeParse(body);
  if (!parsed.success) throw new CliFailure('the sign-in endpoint answered something unexpected', 'SIGN_IN_FAILED');
  ctx.stdout.write(values.json ? `${JSON.stringify({ idToken: parsed.data.idToken, refreshToken: parsed.data.refreshToken, expiresIn: Number(parsed.data.expiresIn), uid: parsed.data.localId })}\n` : `${parsed.data.idToken}\n`);
  return EXIT.OK;
}

/** `scriptorium token`. */
export const tokenCommand: Command = { name: 'token', summary: 'sign in and print an ID token', usage: USAGE, run };
