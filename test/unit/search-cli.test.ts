/**
 * `scriptorium search`: the request it sends, the human and JSON output, usage errors and api
 * refusals, against a fake api server and a fake signed-in session.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { main } from '../../scripts/cli/main.js';
import { formatHits, markSnippet } from '../../scripts/cli/commands/search.js';
import { ApiClient, type Session } from '../../scripts/cli/session.js';
import type { LocalConfig } from '../../emulators/local-config.js';
import type { SearchHit } from '../../shared/api/contracts.js';
import { problemBody } from '../../shared/http/problem.js';

class Capture {
  text = '';
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

const HIT: SearchHit = {
  documentId: 'doc_0123456789abcdef0123',
  fileName: 'ayat.txt',
  chunkId: 'doc_0123456789abcdef0123_v1_c00000',
  page: 2,
  pageEnd: 2,
  score: 0.0328,
  snippet: 'It is verse 2:255 of the Quran.',
  highlights: [{ start: 12, end: 17 }],
  keywordRank: 1,
};

const tmp = mkdtempSync(path.join(tmpdir(), 'scriptorium-search-cli-'));
let server: http.Server;
let base = '';
const seen: unknown[] = [];
let answer: { status: number; body: unknown } = { status: 200, body: { results: [HIT], took: { ms: 12 }, modes: { keyword: true, vector: false } } };

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/api/v1/search') seen.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
});

function config(): LocalConfig {
  const host = new URL(base).host;
  return {
    projectId: 'demo-project',
    gcpProjectId: 'demo-scriptorium',
    bucket: 'b',
    apiUrl: `${base}/api`,
    firestoreEmulatorHost: host,
    pubsubEmulatorHost: host,
    authEmulatorHost: host,
    storageEmulatorHost: host,
    functions: { api: `${base}/api` },
    demoUser: { email: 'demo@example.com', password: 'pw', uid: 'u1' },
    signingKeyFile: '/dev/null',
    logsDir: '/tmp',
    pgids: {},
    startedAt: new Date().toISOString(),
  };
}

const session = (cfg: LocalConfig): Promise<Session> =>
  Promise.resolve({
    config: cfg,
    userEmail: cfg.demoUser.email,
    api: new ApiClient(cfg.apiUrl, () => Promise.resolve('token'), 5000, []),
    watchJob: () => () => undefined,
    getJob: () => Promise.resolve(null),
    getDocument: () => Promise.resolve(null),
    close: () => Promise.resolve(),
  });

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const file = path.join(tmp, 'local.json');
  writeFileSync(file, JSON.stringify(config()));
  const code = await main({ argv: ['--config', file, ...argv], stdout, stderr, env: {}, openSession: session });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('scriptorium search', () => {
  it('sends the query to POST /v1/search and prints rank, score, file, page and the marked snippet', async () => {
    seen.length = 0;
    const r = await run(['search', 'verse', '2:255', '--limit', '5']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(seen, [{ projectId: 'demo-project', query: 'verse 2:255', limit: 5 }]);
    assert.match(r.stdout, /^1\. 0\.0328 {2}ayat\.txt {2}p\. 2 {2}\(doc_0123456789abcdef0123\)\n {3}It is verse «2:255» of the Quran\.\n$/);
    assert.match(r.stderr, /1 result in 12 ms \(keyword\)/);
  });

  it('prints a JSON array with --json, and searches another project with --project', async () => {
    seen.length = 0;
    const r = await run(['search', 'x', '--json', '--project', 'other-project']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [HIT]);
    assert.deepEqual(seen, [{ projectId: 'other-project', query: 'x' }]);
  });

  it('exits 2 on usage errors and 1 when the api refuses', async () => {
    assert.equal((await run(['search'])).code, 2);
    assert.equal((await run(['search', 'x', '--limit', '51'])).code, 2);
    assert.equal((await run(['search', 'x', '--limit', 'ten'])).code, 2);
    assert.equal((await run(['search', 'x'.repeat(501)])).code, 2);
    answer = { status: 403, body: problemBody(403, 'PERMISSION_DENIED', 'you are not a member of project p') };
    const r = await run(['search', 'x']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a member of project demo-project/);
  });

  it('marks highlights safely and says when nothing was found', () => {
    assert.equal(markSnippet({ snippet: 'a \u001b[31mb c', highlights: [{ start: 0, end: 1 }, { start: 7, end: 99 }] }), '«a» \uFFFD[31mb c');
    assert.equal(formatHits([]), 'no results\n');
    assert.match(formatHits([{ ...HIT, page: 1, pageEnd: 3 }]), /pp\. 1-3/);
  });
});
