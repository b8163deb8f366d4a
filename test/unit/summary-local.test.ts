/**
 * The `local` (extractive TextRank) summary engine on real text: corpus OCR output and the
 * 117-page corpus PDF (copies in test/fixtures), LibriVox transcripts from the shared corpus, and
 * the United Nations' Arabic text of the UDHR.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';

import { PermanentError, TransientError } from '../../shared/errors/index.js';
import { createSummaryEngine, SUMMARY_DEFAULTS, summaryBounds } from '../../shared/engines/summary/index.js';
import { createLocalSummaryEngine, LOCAL_SUMMARY_MODEL, similarityTokens } from '../../shared/engines/summary/local.js';
import type { SummaryInput, SummaryResult } from '../../shared/engines/summary/types.js';
import { splitSentences } from '../../shared/text/sentences.js';
import { fixturePath } from '../helpers/paths.js';

const engine = createLocalSummaryEngine();

const DATELINE = readFileSync(fixturePath('ocr/8087_054.3B.txt'), 'utf8');
const PHOTOTEST = readFileSync(fixturePath('ocr/phototest.txt'), 'utf8');
/** corpus/audio/sense_and_sensibility_01_austen_64kb-08{70,80,90}.txt, one after the other. */
const AUSTEN_TRANSCRIPT = [
  'and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them',
  ' he was not an ill disposed young man',
  ' unless to be rather cold hearted and rather selfish is to be ill disposed',
].join('\n');
/** The UN's Arabic text of the UDHR, preamble's end and articles 1–3. */
const UDHR_AR = [
  'على أنه المستوى المشترك الذي ينبغي أن تستهدفه كافة الشعوب والأمم حتى يسعى كل فرد وهيئة في المجتمع، واضعين على الدوام هذا الإعلان نصب أعينهم، إلى توطيد احترام هذه الحقوق والحريات عن طريق التعليم والتربية واتخاذ إجراءات مطردة، قومية وعالمية، لضمان الإعتراف بها ومراعاتها بصورة عالمية فعالة بين الدول الأعضاء ذاتها وشعوب البقاع الخاضعة لسلطانها.',
  '',
  'المادة 1',
  '',
  'يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق. وقد وهبوا عقلاً وضميرًا وعليهم أن يعامل بعضهم بعضًا بروح الإخاء.',
  '',
  'المادة 2',
  '',
  'لكل إنسان حق التمتع بكافة الحقوق والحريات الواردة في هذا الإعلان، دون أي تمييز، كالتمييز بسبب العنصر أو اللون أو الجنس أو اللغة أو الدين أو الرأي السياسي أو أي رأي آخر، أو الأصل الوطني أو الإجتماعي أو الثروة أو الميلاد أو أي وضع آخر، دون أية تفرقة بين الرجال والنساء.',
  '',
  'وفضلاً عما تقدم فلن يكون هناك أي تمييز أساسه الوضع السياسي أو القانوني أو الدولي لبلد أو البقعة التي ينتمي إليها الفرد سواء كان هذا البلد أو تلك البقعة مستقلاً أو تحت الوصاية أو غير متمتع بالحكم الذاتي أو كانت سيادته خاضعة لأي قيد من القيود.',
  '',
  'المادة 3',
  '',
  'لكل فرد الحق في الحياة والحرية وسلامة شخصه.',
].join('\n');

let geoTopo: string;
before(() => {
  geoTopo = execFileSync('pdftotext', ['-enc', 'UTF-8', fixturePath('pdf/GeoTopo-komprimiert.pdf'), '-'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
});

/** Summarizes and checks what every summary must be; returns the result and the progress seen. */
async function summarize(input: SummaryInput): Promise<{ result: SummaryResult; progress: number[] }> {
  const progress: number[] = [];
  const result = await engine.summarize(input, { onProgress: (f) => void progress.push(f) });
  assertSummary(input, result);
  assert.ok(progress.length >= 2 && progress.at(-1) === 1, `progress ends at 1: ${progress.join(', ')}`);
  progress.forEach((p, i) => assert.ok(p >= (progress[i - 1] ?? 0) && p <= 1, 'progress never goes back'));
  return { result, progress };
}

function assertSummary(input: SummaryInput, result: SummaryResult): void {
  const { maxSentences, maxChars } = summaryBounds(input);
  const sentences = result.sentences ?? [];
  assert.equal(result.engine, 'local');
  assert.equal(result.model, LOCAL_SUMMARY_MODEL);
  assert.ok(sentences.length <= maxSentences, `${sentences.length} sentences > ${maxSentences}`);
  assert.ok(result.summary.length <= maxChars, `${result.summary.length} chars > ${maxChars}`);
  assert.equal(result.summary, sentences.map((s) => s.text).join(' '));
  // Verbatim, in document order, real sentences of the document.
  const all = new Set(splitSentences(input.text, { language: input.language ?? null, maxChars: Math.min(1000, maxChars) }).map((s) => `${s.start}:${s.end}`));
  sentences.forEach((s, i) => {
    assert.equal(input.text.slice(s.start, s.end), s.text);
    assert.ok(i === 0 || s.start >= (sentences[i - 1]?.end ?? 0), 'document order');
    assert.ok(all.has(`${s.start}:${s.end}`), `a sentence of the splitter: ${s.text}`);
  });
}

describe('summaries of real texts', () => {
  test('corpus OCR (8087_054.3B): five verbatim sentences in document order within 1200 characters', async () => {
    const { result } = await summarize({ text: DATELINE, language: 'eng' });
    assert.equal(result.sentences?.length, 5);
    assert.ok(result.summary.length > 300);
    // Substantive sentences, not the page furniture.
    assert.ok(!result.sentences?.some((s) => /d a t e l i n e|T R A V E L/u.test(s.text)));
  });

  test('bounds: maxSentences and maxChars are both honoured', async () => {
    for (const [maxSentences, maxChars] of [[1, 1200], [2, 300], [10, 5000], [3, 60]] as const) {
      const { result } = await summarize({ text: DATELINE, maxSentences, maxChars });
      assert.ok((result.sentences?.length ?? 0) >= 1, `${maxSentences}/${maxChars}: something fits`);
    }
  });

  test('corpus OCR (phototest): a text repeating itself gives each sentence once', async () => {
    const { result } = await summarize({ text: PHOTOTEST });
    const dogs = result.sentences?.filter((s) => /quick/u.test(s.text)) ?? [];
    assert.equal(dogs.length, 1);
    assert.match(result.summary, /12 point text/u);
  });

  test('Arabic (UDHR): Arabic sentences verbatim, headings left out', async () => {
    const { result } = await summarize({ text: UDHR_AR, language: 'ara', maxSentences: 3 });
    assert.equal(result.sentences?.length, 3);
    for (const s of result.sentences ?? []) {
      assert.match(s.text, /\p{Script=Arabic}/u);
      assert.doesNotMatch(s.text, /^المادة \d$/u);
    }
  });

  test('the similarity folds Arabic diacritics, tatweel, alef/yaa variants and the article; Latin case and accents', () => {
    assert.deepEqual(similarityTokens('الْحُقُوقُ'), similarityTokens('الحقوق'));
    assert.deepEqual(similarityTokens('الحـــقوق'), ['حقوق']);
    assert.deepEqual(similarityTokens('والحقوق وللحقوق'), ['حقوق', 'حقوق']);
    assert.deepEqual(similarityTokens('أحرار إحسان آمن ٱلله'), similarityTokens('احرار احسان امن الله'));
    assert.deepEqual(similarityTokens('على مستشفى'), similarityTokens('علي مستشفي'));
    assert.deepEqual(similarityTokens('حَبيبي habibi'), ['حبيبي', 'habibi']);
    assert.deepEqual(similarityTokens('Évidemment ÉTÉ ﬁnal weath-\nered'), ['evidemment', 'ete', 'final', 'weathered']);
  });

  test('transcripts without punctuation (corpus audio): the lines are the sentences', async () => {
    const { result } = await summarize({ text: AUSTEN_TRANSCRIPT, maxSentences: 2 });
    assert.equal(result.sentences?.length, 2);
    for (const s of result.sentences ?? []) assert.doesNotMatch(s.text, /\n/u);
  });

  test('a long run of words without punctuation or line breaks: bounded pieces', async () => {
    const text = Array.from({ length: 100 }, () => AUSTEN_TRANSCRIPT.replace(/\s+/gu, ' ').trim()).join(' ');
    const { result } = await summarize({ text, maxChars: 500 });
    assert.ok((result.sentences?.length ?? 0) >= 1);
  });

  test('deterministic: the same input gives the same summary', async () => {
    const a = await engine.summarize({ text: DATELINE });
    const b = await engine.summarize({ text: DATELINE });
    assert.deepEqual(a, b);
  });
});

describe('edges', () => {
  test('empty and white-space text: an empty summary, no error', async () => {
    for (const text of ['', '  \n\f ']) {
      const { result } = await summarize({ text });
      assert.equal(result.summary, '');
      assert.deepEqual(result.sentences, []);
    }
  });

  test('one sentence: that sentence; one without punctuation: itself', async () => {
    assert.equal((await summarize({ text: '  Just one sentence here.\n' })).result.summary, 'Just one sentence here.');
    assert.equal((await summarize({ text: 'حَبيبي habibi' })).result.summary, 'حَبيبي habibi');
  });

  test('a sentence longer than maxChars is never returned (it could not be quoted whole)', async () => {
    const { result } = await summarize({ text: UDHR_AR, maxChars: 100 });
    for (const s of result.sentences ?? []) assert.ok(s.text.length <= 100);
  });

  test('invalid bounds fall back to the defaults', async () => {
    const { result } = await summarize({ text: DATELINE, maxSentences: 0, maxChars: Number.NaN });
    assert.equal(result.sentences?.length, SUMMARY_DEFAULTS.maxSentences);
  });

  test('an aborted signal, and an abort during a long document: TransientError', async () => {
    await assert.rejects(engine.summarize({ text: DATELINE }, { signal: AbortSignal.abort() }), (err) => err instanceof TransientError && err.code === 'ENGINE_FAILED');
    const controller = new AbortController();
    await assert.rejects(
      engine.summarize(
        { text: geoTopo },
        {
          signal: controller.signal,
          onProgress: (f) => {
            if (f > 0.1) controller.abort(new Error('function timeout'));
          },
        },
      ),
      (err) => err instanceof TransientError && /function timeout/u.test(err.message),
    );
  });

  test('an error thrown by onProgress reaches the caller unchanged', async () => {
    const mine = new PermanentError('JOB_GONE', 'the job record is gone');
    await assert.rejects(
      engine.summarize(
        { text: DATELINE },
        {
          onProgress: () => {
            throw mine;
          },
        },
      ),
      (err) => err === mine,
    );
  });

  test('createSummaryEngine: local is the default', () => {
    assert.equal(createSummaryEngine({}).name, 'local');
    assert.equal(createSummaryEngine({ SCRIPTORIUM_SUMMARY_ENGINE: 'local' }).model, LOCAL_SUMMARY_MODEL);
    assert.equal(createSummaryEngine({ SCRIPTORIUM_SUMMARY_ENGINE: '' }).name, 'local');
  });
});

describe('long documents', () => {
  test('the 117-page corpus PDF: bounded time and memory, progress per window', async (t) => {
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    const { result, progress } = await summarize({ text: geoTopo, language: 'deu' });
    const ms = performance.now() - started;
    const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
    t.diagnostic(`${geoTopo.length} characters, ${splitSentences(geoTopo).length} sentences: ${ms.toFixed(0)} ms, heap ${heapMb.toFixed(1)} MiB more, ${progress.length} progress reports`);
    assert.equal(result.sentences?.length, 5);
    assert.ok(ms < 5000, `${ms.toFixed(0)} ms`);
    assert.ok(progress.length > 4, 'progress is reported window by window');
  });

  test('ten times that (1.4 M characters): still bounded', async (t) => {
    const text = Array.from({ length: 10 }, () => geoTopo).join('\f');
    const started = performance.now();
    const { result } = await summarize({ text, language: 'deu', maxSentences: 3 });
    const ms = performance.now() - started;
    t.diagnostic(`${text.length} characters: ${ms.toFixed(0)} ms`);
    assert.equal(result.sentences?.length, 3);
    assert.ok(ms < 30_000, `${ms.toFixed(0)} ms`);
  });
});
