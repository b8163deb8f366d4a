import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUNDLED_PRICES, formatUsd, parsePriceTable, priceUnits, unitPrice } from '../../shared/cost/prices.js';
import { chargeRecord } from '../../shared/cost/record.js';
import { functionUsage } from '../../shared/cost/functions.js';
import { addUnits, billableCharacters, estimateTokens, functionUnits, sumRecords, ttsTier, UNIT_NAMES, usageDay, type UsageRecord } from '../../shared/cost/usage.js';
import { formatUsage } from '../../shared/cost/format.js';
import { UsageMeter, meteredSummary, ttsUnits } from '../../shared/cost/meter.js';
import { parseConfig } from '../../shared/config/index.js';
import { JobSchema } from '../../shared/jobs/model.js';
import { formatJob, toJobView } from '../../scripts/cli/job-view.js';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} ≠ ${b}`);

describe('price table', () => {
  it('prices every unit the meter knows, from a named Google pricing page', () => {
    for (const unit of UNIT_NAMES) {
      const line = BUNDLED_PRICES.units[unit];
      assert.ok(line, `no price for ${unit}`);
      assert.match(line.source ?? '', /^https:\/\/cloud\.google\.com\//);
    }
  });

  it('computes cost per line as units × unit price, and the total as their sum', () => {
    const units = { ocrPages: 12, sttAudioSeconds: 60, embeddingCharacters: 10_000, firestoreWrites: 100, functionVcpuSeconds: 3.5 };
    const priced = priceUnits(units, BUNDLED_PRICES);
    for (const [u, q] of Object.entries(units)) close(priced.costUsd[u as keyof typeof units] ?? 0, q * unitPrice(BUNDLED_PRICES, u as keyof typeof units), 1e-8);
    close(priced.totalUsd, Object.values(priced.costUsd).reduce((a, b) => a + b, 0), 1e-8);
    // The list prices as stated: $1.50 per 1,000 pages, $0.016 per minute of audio.
    close(priced.costUsd.ocrPages ?? 0, 0.018);
    close(priced.costUsd.sttAudioSeconds ?? 0, 0.016);
  });

  it('lets SCRIPTORIUM_PRICE_TABLE replace some lines (JSON text or a file), keeping the others', async () => {
    const inline = parsePriceTable('{"id":"negotiated","units":{"ocrPages":{"usd":0.6,"per":1000}}}');
    assert.equal(inline.id, 'negotiated');
    close(unitPrice(inline, 'ocrPages'), 0.0006);
    close(unitPrice(inline, 'sttAudioSeconds'), unitPrice(BUNDLED_PRICES, 'sttAudioSeconds'));
    const dir = await mkdtemp(path.join(tmpdir(), 'prices-'));
    const file = path.join(dir, 'prices.json');
    await writeFile(file, JSON.stringify({ id: 'from-file', units: { firestoreReads: { usd: 0.03, per: 100000 } } }));
    close(unitPrice(parsePriceTable(file), 'firestoreReads'), 0.0000003);
  });

  it('refuses an invalid price table, naming the problem, and the config refuses it at start', () => {
    assert.throws(() => parsePriceTable('{"id":"x","units":{"pagez":{"usd":1}}}'), /unknown unit name/);
    assert.throws(() => parsePriceTable('{"id":"x","units":{"ocrPages":{"usd":-1}}}'), /ocrPages/);
    assert.throws(() => parsePriceTable('{not json'), /not JSON/);
    const env = { GOOGLE_CLOUD_PROJECT: 'demo-x', SCRIPTORIUM_BUCKET: 'b' };
    assert.throws(() => parseConfig({ ...env, SCRIPTORIUM_PRICE_TABLE: '{"id":"x","units":{"pagez":{"usd":1}}}' }), /SCRIPTORIUM_PRICE_TABLE: invalid price table/);
    assert.equal(parseConfig({ ...env, SCRIPTORIUM_PRICE_TABLE: '' }).SCRIPTORIUM_PRICE_TABLE, undefined);
  });

  it('formats money for people', () => {
    assert.deepEqual([0, 0.018, 0.0000424, 12.345].map(formatUsd), ['$0', '$0.018', '$0.000042', '$12.35']);
  });
});

describe('usage units', () => {
  it('counts billable characters without whitespace, by code point', () => {
    assert.equal(billableCharacters('a b\tc\n'), 3);
    assert.equal(billableCharacters('ﻣﺮﺣﺒﺎ 𝄞'), 6);
  });

  it('bills function time in 100 ms steps, by vCPU and GiB', () => {
    assert.deepEqual(functionUnits(1234, 2048, 1), { functionVcpuSeconds: 1.3, functionGibSeconds: 2.6, functionInvocations: 1 });
    assert.deepEqual(functionUnits(0, 512, 1), { functionVcpuSeconds: 0, functionGibSeconds: 0, functionInvocations: 1 });
    // The OCR function: 2 GiB and 1 vCPU as terraform deploys it.
    assert.deepEqual(functionUsage('ocr', 950), { functionVcpuSeconds: 1, functionGibSeconds: 2, functionInvocations: 1 });
  });

  it('sorts Text-to-Speech voices into their price tiers', () => {
    const cases: [string, string][] = [
      ['en-US-Standard-A', 'standard'],
      ['en-US-Wavenet-D', 'wavenet'],
      ['en-US-Neural2-C', 'neural2'],
      ['en-US-Studio-O', 'studio'],
      ['en-US-Chirp3-HD-Aoede', 'chirpHd'],
      ['flite-kal16', 'standard'],
    ];
    for (const [voice, tier] of cases) assert.equal(ttsTier(voice), tier, voice);
    assert.deepEqual(ttsUnits('en-GB-Neural2-A', 120), { ttsNeural2Characters: 120 });
  });

  it('adds and sums records unit by unit (a project total is the sum of its days)', () => {
    assert.deepEqual(addUnits({ ocrPages: 2 }, { ocrPages: 3, firestoreReads: 1 }), { ocrPages: 5, firestoreReads: 1 });
    const a: UsageRecord = { units: { ocrPages: 2 }, costUsd: { ocrPages: 0.003 }, totalUsd: 0.003, attempts: 1, priceTable: 't' };
    const b: UsageRecord = { units: { ocrPages: 1, sttAudioSeconds: 7 }, costUsd: { ocrPages: 0.0015, sttAudioSeconds: 0.00186667 }, totalUsd: 0.00336667, attempts: 2, priceTable: 't' };
    const s = sumRecords([a, b]);
    assert.deepEqual(s.units, { ocrPages: 3, sttAudioSeconds: 7 });
    close(s.totalUsd, 0.00636667);
    assert.equal(s.attempts, 3);
  });

  it("adds the recording transaction's own writes to the attempt's charge before pricing it", () => {
    const rec = chargeRecord({ stage: 'ocr', units: { ocrPages: 4, firestoreWrites: 5 }, prices: BUNDLED_PRICES }, 4);
    assert.equal(rec.units.firestoreWrites, 9);
    close(rec.costUsd.firestoreWrites ?? 0, 9 * unitPrice(BUNDLED_PRICES, 'firestoreWrites'), 1e-8);
    assert.equal(rec.attempts, 1);
    assert.equal(rec.priceTable, BUNDLED_PRICES.id);
  });

  it('keys project days by UTC date', () => {
    assert.equal(usageDay(new Date('2026-03-01T23:59:59-05:00')), '2026-03-02');
  });
});

describe('meter', () => {
  it('counts only positive quantities, and estimates summary tokens for an engine that reports none', async () => {
    const meter = new UsageMeter();
    meter.add('ocrPages', 0);
    meter.add('ocrPages', Number.NaN);
    meter.add('ocrPages', 2);
    assert.deepEqual(meter.snapshot(), { ocrPages: 2 });
    const { createSummaryEngine } = await import('../../shared/engines/summary/index.js');
    const engine = meteredSummary(createSummaryEngine({ SCRIPTORIUM_SUMMARY_ENGINE: 'local' }), meter);
    const text = 'The river rose in the night. The village woke to water in the streets. By noon the boats were out. Nobody was hurt.';
    const out = await engine.summarize({ text, maxSentences: 2 });
    assert.equal(meter.get('summaryInputTokens'), estimateTokens(text));
    assert.equal(meter.get('summaryOutputTokens'), estimateTokens(out.summary));
  });
});

describe('job view', () => {
  it("shows a job's usage lines and estimated total, and reads jobs without usage as before", () => {
    const usage = { units: { ocrPages: 12, firestoreWrites: 40 }, costUsd: { ocrPages: 0.018, firestoreWrites: 0.000072 }, totalUsd: 0.018072, attempts: 3, priceTable: 'google-list-usd-2025-06' };
    const text = formatJob(toJobView('j1', { status: 'COMPLETED', usage }));
    assert.match(text, /usage \(estimated at list prices, google-list-usd-2025-06\):/);
    assert.match(text, /OCR pages\s+12\s+\$0\.018\n/);
    assert.match(text, /total\s+\$0\.018072\n/);
    assert.doesNotMatch(formatJob(toJobView('j2', { status: 'RUNNING' })), /usage/);
    assert.match(formatUsage({ ...usage, units: { ...usage.units, newerUnit: 1 } }), /newerUnit\s+1\s+\$0/);
  });

  it('parses job records with and without usage (older jobs have none)', () => {
    const base = { id: 'j', kind: 'document.process', projectId: 'p', documentId: 'd', ownerUid: 'u', agentId: null, status: 'COMPLETED', stage: 'done', progress: 100, attempts: 1, createdAt: 'x', startedAt: null, updatedAt: 'x', finishedAt: null, error: null, input: { bucket: 'b', object: 'o', fileName: 'f', contentType: 'application/pdf', declaredSize: 1, generation: '1' }, dispatchedStage: null, result: null, cancelRequested: false, retryOf: null, metrics: { firestoreWrites: 3 }, logCount: 1 };
    assert.equal(JobSchema.parse(base).usage, undefined);
    const withUsage = JobSchema.parse({ ...base, usage: { units: { ocrPages: 1 }, costUsd: { ocrPages: 0.0015 }, totalUsd: 0.0015, attempts: 1, priceTable: 't' } });
    assert.equal(withUsage.usage?.units.ocrPages, 1);
  });
});
