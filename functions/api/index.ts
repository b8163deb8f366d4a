/** Registration only: adapts functions-framework's Express request to {@link handleApi}. */
import * as ff from '@google-cloud/functions-framework';
import { createFirebaseVerifier, type TokenVerifier } from '../../shared/auth/index.js';
import { getRuntime } from '../../shared/runtime/index.js';
import { handleApi, type ApiDeps } from './handler.js';

let deps: ApiDeps | undefined;
let verifier: TokenVerifier | undefined;

function apiDeps(): ApiDeps {
  if (deps) return deps;
  const rt = getRuntime();
  verifier ??= createFirebaseVerifier(rt.config.GOOGLE_CLOUD_PROJECT);
  deps = { ...rt, verifier };
  return deps;
}

ff.http('api', async (req, res) => {
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  // CORS: browsers call the API directly; authorisation is the bearer token, not cookies.
  res.set('Access-Control-Allow-Origin', '*');
  if (req.method === 'OPTIONS') {
    res.set('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    res.set('Access-Control-Allow-Headers', 'Authorization, Content-Type');
    res.set('Access-Control-Max-Age', '3600');
    res.status(204).send('');
    return;
  }
  const out = await handleApi({ method: req.method, path: req.path, headers, body: req.body as unknown }, apiDeps());
  res.status(out.status);
  for (const [k, v] of Object.entries(out.headers ?? {})) res.set(k, v);
  if (Buffer.isBuffer(out.body) || typeof out.body === 'string') res.send(out.body);
  else res.json(out.body);
});
