/**
 * What the benchmarks against the running local stack share: the demo user's sign-in, upload
 * creation that waits out a rate limit as a client must, and the peak memory of each function
 * process sampled from /proc. Tools only (never imported by functions or tests).
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { LocalConfig } from '../emulators/local-config.js';
import { readSupervisorState } from '../emulators/supervisor.js';
import { API_ROUTES, CreateUploadResponseSchema, type CreateUploadResponse } from '../shared/api/contracts.js';

export async function signIn(cfg: LocalConfig): Promise<string> {
  const res = await fetch(`http://${cfg.authEmulatorHost}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=local`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: cfg.demoUser.email, password: cfg.demoUser.password, returnSecureToken: true }),
  });
  const body = (await res.json()) as { idToken?: string };
  if (!body.idToken) throw new Error(`sign-in failed: ${res.status}`);
  return body.idToken;
}

/** POST /v1/uploads, waiting out a rate limit (429 with Retry-After) as a client must. */
export async function createUpload(cfg: LocalConfig, token: string, body: unknown): Promise<CreateUploadResponse> {
  for (let tries = 0; ; tries++) {
    const res = await fetch(`${cfg.apiUrl}${API_ROUTES.createUpload}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status === 429 && tries < 50) {
      const wait = Number(res.headers.get('retry-after') ?? '1');
      await new Promise((r) => setTimeout(r, Math.max(0.2, Number.isFinite(wait) ? wait : 1) * 1000));
      continue;
    }
    if (res.status !== 201 && res.status !== 200) throw new Error(`createUpload: ${res.status} ${await res.text()}`);
    return CreateUploadResponseSchema.parse(await res.json());
  }
}

/** Peak resident memory (VmHWM, kB) of each process of a group, from /proc. */
function groupPeaks(pgid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue;
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${d}/status`, 'utf8'));
      if (hwm?.[1]) out.set(Number(d), Number(hwm[1]));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return out;
}

/** Samples the function processes' peaks until stopped: the server process's, and the largest child's. */
export function memorySampler(cfg: LocalConfig): { stop(): Record<string, { serverMB: number; largestChildMB: number }> } {
  const peaks: Record<string, { server: number; child: number }> = {};
  const sample = () => {
    const state = cfg.supervisorStateFile ? readSupervisorState(cfg.supervisorStateFile) : null;
    for (const [name, s] of Object.entries(state?.processes ?? {})) {
      if (!s.pgid || !s.pid) continue;
      const p = (peaks[name] ??= { server: 0, child: 0 });
      for (const [pid, kb] of groupPeaks(s.pgid)) {
        if (pid === s.pid) p.server = Math.max(p.server, kb);
        else p.child = Math.max(p.child, kb);
      }
    }
  };
  sample();
  const timer = setInterval(sample, 500);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return Object.fromEntries(Object.entries(peaks).map(([n, p]) => [n, { serverMB: Math.round(p.server / 1024), largestChildMB: Math.round(p.child / 1024) }]));
    },
  };
}


/** CPU time (user + system, ms) used so far by every live process of each process group, from /proc. */
export function groupCpuMs(pgids: Readonly<Record<string, number>>): Record<string, number> {
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  const out: Record<string, number> = Object.fromEntries(Object.keys(pgids).map((k) => [k, 0]));
  const byGroup = new Map(Object.entries(pgids).map(([name, pgid]) => [pgid, name]));
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name (which may hold spaces) in parentheses: state ppid pgrp … utime(14) stime(15).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const name = byGroup.get(Number(fields[2]));
    if (name === undefined) continue;
    out[name] = (out[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) * tick;
  }
  return out;
}

/** CPU ms per request of each group between two {@link groupCpuMs} readings (groups that used none left out). */
export function cpuPerRequest(before: Readonly<Record<string, number>>, after: Readonly<Record<string, number>>, requests: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, ms] of Object.entries(after)) {
    const used = ms - (before[name] ?? 0);
    if (used > 0 && requests > 0) out[name] = Math.round((used / requests) * 100) / 100;
  }
  return out;
}
