/**
 * terraform/alerts.tf: every log-based metric's filter must match a line some function really logs
 * (its `message`, the jsonPayload fields it tests or extracts, and the function it is restricted
 * to), so renaming a log line cannot silently blind an alert. And every alert policy must watch a
 * declared metric and notify the configured channels.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { findTerraformDir } from '../../shared/topology-terraform.js';

const terraformDir = findTerraformDir();
const root = path.dirname(terraformDir);

type Parse = (file: string, text: string) => Promise<unknown>;
const hcl = createRequire(import.meta.url)('@cdktf/hcl2json') as { parse: Parse };

interface Metric {
  readonly filter: string;
  readonly label_extractors?: Record<string, string>;
  readonly value_extractor?: string;
}

async function alerts(): Promise<{ metrics: Record<string, Metric>; policies: Record<string, unknown> }> {
  const json = (await hcl.parse('alerts.tf', readFileSync(path.join(terraformDir, 'alerts.tf'), 'utf8'))) as { resource: Record<string, Record<string, unknown[]>> };
  const first = <T>(m: Record<string, unknown[]> | undefined): Record<string, T> => Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, v[0] as T]));
  return { metrics: first<Metric>(json.resource.google_logging_metric), policies: first<unknown>(json.resource.google_monitoring_alert_policy) };
}

/** Every TypeScript source of the functions and the shared core. */
function sources(): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) out.push({ file: path.relative(root, p), text: readFileSync(p, 'utf8') });
    }
  };
  walk(path.join(root, 'functions'));
  walk(path.join(root, 'shared'));
  return out;
}

/** Log calls (`log.warn('message', { ... })`) with the given message: the call's text up to its closing parenthesis. */
function logCalls(message: string): { file: string; call: string }[] {
  const quoted = message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`\\.(?:debug|info|warn|error)\\(\\s*['\`]${quoted}['\`]`, 'g');
  const out: { file: string; call: string }[] = [];
  for (const { file, text } of sources()) {
    for (const m of text.matchAll(re)) {
      let depth = 0;
      let end = m.index;
      for (let i = m.index + m[0].indexOf('('); i < text.length; i++) {
        if (text[i] === '(') depth++;
        else if (text[i] === ')' && --depth === 0) {
          end = i;
          break;
        }
      }
      out.push({ file, call: text.slice(m.index, end + 1) });
    }
  }
  return out;
}

/** What a filter asks of the line: its message, the jsonPayload fields (with required values), the service. */
function parseFilter(filter: string): { message: string | null; fields: Map<string, string>; service: string | null } {
  const message = /jsonPayload\.message="((?:[^"\\]|\\.)*)"/.exec(filter)?.[1] ?? null;
  const fields = new Map<string, string>();
  for (const m of filter.matchAll(/jsonPayload\.(\w+)=("(?:[^"\\]|\\.)*"|\w+)/g)) if (m[1] !== 'message') fields.set(m[1] as string, m[2] as string);
  const service = /resource\.labels\.service_name="([^"]+)"/.exec(filter)?.[1] ?? null;
  return { message, fields, service };
}

void describe('terraform/alerts.tf', () => {
  void it('declares log-based metrics for dead letters, job failures, reaper actions and old jobs', async () => {
    const { metrics } = await alerts();
    assert.deepEqual(Object.keys(metrics).sort(), ['dead_lettered_messages', 'jobs_ended', 'jobs_failed', 'old_jobs', 'reaper_actions']);
  });

  void it("matches each metric's filter to a line the code really logs", async () => {
    const { metrics } = await alerts();
    for (const [name, metric] of Object.entries(metrics)) {
      const { message, fields, service } = parseFilter(metric.filter);
      assert.ok(message, `${name}: the filter names no jsonPayload.message`);
      let calls = logCalls(message);
      assert.ok(calls.length > 0, `${name}: no function logs ${JSON.stringify(message)}`);
      if (service) {
        // The line must come from that function's own code (its service name is the function's name).
        calls = calls.filter((c) => c.file.startsWith(path.join('functions', service) + path.sep));
        assert.ok(calls.length > 0, `${name}: ${JSON.stringify(message)} is not logged by functions/${service}`);
      }
      const extracted = [...Object.values(metric.label_extractors ?? {}), metric.value_extractor ?? ''].flatMap((e) => [...e.matchAll(/EXTRACT\(jsonPayload\.(\w+)\)/g)].map((m) => m[1] as string));
      const needed = [...fields.keys(), ...extracted];
      const matching = calls.filter((c) => needed.every((f) => new RegExp(`[{,\\s]${f}\\s*[:,}]`).test(c.call)));
      assert.ok(matching.length > 0, `${name}: no call logging ${JSON.stringify(message)} has the fields ${needed.join(', ')}:\n${calls.map((c) => `${c.file}: ${c.call}`).join('\n')}`);
      // A field compared with a literal (`deadLetter=true`) must be logged with that literal.
      for (const [f, v] of fields) {
        if (v === 'true' || v === 'false') assert.ok(matching.some((c) => new RegExp(`${f}\\s*:\\s*${v}\\b`).test(c.call)), `${name}: ${f} is not logged as ${v}`);
      }
    }
  });

  void it('alerts on declared metrics only, notifying the configured channels', async () => {
    const { metrics, policies } = await alerts();
    assert.ok(Object.keys(policies).length >= 5);
    for (const [name, policy] of Object.entries(policies)) {
      const text = JSON.stringify(policy);
      assert.ok(text.includes('${var.alert_notification_channels}'), `${name}: does not notify var.alert_notification_channels`);
      for (const m of text.matchAll(/google_logging_metric\.(\w+)\.name/g)) assert.ok(metrics[m[1] as string], `${name}: watches undeclared metric ${m[1]}`);
    }
  });
});
