/**
 * Raw HTTP requests for probing servers the way a hostile client would: any method, headers and
 * body bytes (fetch refuses some of these, and hides a connection the server closed mid-upload).
 */
import http from 'node:http';

export interface RawAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

/**
 * Sends one request on a fresh connection. Resolves with the answer; if the server answers and
 * closes before the whole body is written, the answer still counts (that is the point of closing).
 */
export function rawRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string; path?: string } = {}): Promise<RawAnswer> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: target.hostname, port: target.port, method: opts.method ?? 'GET', path: opts.path ?? `${target.pathname}${target.search}`, headers: opts.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    // EPIPE/ECONNRESET while still writing: the answer (if any) arrives through the response callback.
    req.on('error', (err) => setTimeout(() => reject(err), 200));
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** Resident set size of a process in bytes (Linux `/proc`). */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!m?.[1]) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Asserts an error answer is our JSON shape and carries nothing internal. */
export function internalsIn(text: string): string[] {
  const found: string[] = [];
  if (/<html|<!DOCTYPE|<pre>/i.test(text)) found.push('an HTML page');
  if (/\bat [\w.<>]+ \(|node_modules|\/work\/|\/home\/|file:\/\//.test(text)) found.push('a stack trace or a path');
  if (/gs:\/\//.test(text)) found.push('a gs:// path');
  if (/"cause"/.test(text)) found.push('a cause');
  return found;
}
