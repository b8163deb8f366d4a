/**
 * The text-to-speech planner (shared/engines/tts/plan.ts): chunks within the byte limit, cut
 * between sentences where they fit, at clauses and words (never inside a character or a grapheme)
 * where they do not; SSML never cut inside a tag or an entity, every chunk a well-formed `<speak>`
 * document, breaks at cuts turned into pauses. SSML chunks are checked with a tag tokenizer of the
 * test's own, not the planner's parser.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { PermanentError } from '../../shared/errors/index.js';
import { planSpeech, planSsml, planText } from '../../shared/engines/tts/plan.js';
import type { SpeechChunk } from '../../shared/engines/tts/plan.js';
import { parseSsml, ssmlToSpeechParts } from '../../shared/engines/tts/ssml.js';
import { GOOGLE_MAX_INPUT_BYTES } from '../../shared/engines/tts/types.js';
import { splitSentences } from '../../shared/text/sentences.js';

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');
const textOf = (c: SpeechChunk): string => ('text' in c.input ? c.input.text : c.input.ssml);
const squash = (s: string): string => s.replace(/\s+/gu, '');

/** An original passage of ordinary English prose (paragraphs, commas, a question, an exclamation). */
const PROSE = [
  'The old lighthouse stood at the edge of the cliff, where the path gave out among the heather. Every night its beam swept across the water, and every morning the keeper climbed the stairs to polish the lens.',
  'Nobody remembered when the keeper had first arrived. Some said he came with the fishing fleet, others that he had been a schoolteacher in the town across the bay! What mattered was that the light never failed.',
  'In the winter storms the waves broke over the rocks below, throwing spray as high as the gallery. The keeper wrote in his log by the light of a small lamp: the wind, the barometer, the ships that passed. Did anyone ever read it?',
].join('\n\n');

describe('planText', () => {
  test('a text within the limit is one chunk, the text itself', () => {
    const chunks = planText(PROSE, { maxBytes: GOOGLE_MAX_INPUT_BYTES });
    assert.equal(chunks.length, 1);
    assert.equal(textOf(chunks[0] as SpeechChunk), PROSE);
    assert.equal(chunks[0]?.boundary, 'end');
    assert.equal(chunks[0]?.bytes, bytes(PROSE));
  });

  test('nothing to say: no chunks', () => {
    assert.deepEqual(planText('', { maxBytes: 5000 }), []);
    assert.deepEqual(planText(' \n\t \n', { maxBytes: 5000 }), []);
  });

  test('a limit below 64 bytes is refused', () => {
    assert.throws(() => planText('Hello.', { maxBytes: 10 }), RangeError);
  });

  test('longer texts are cut between sentences, each chunk a verbatim slice within the limit', () => {
    const chunks = planText(PROSE, { maxBytes: 300 });
    assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
    for (const c of chunks) {
      const t = textOf(c);
      assert.ok(c.bytes <= 300 && c.bytes === bytes(t), `${c.bytes} bytes`);
      assert.equal(t, PROSE.slice(c.sourceStart, c.sourceEnd), 'a verbatim slice');
      assert.match(t, /[.!?]$/u, `ends a sentence: …${t.slice(-30)}`);
    }
    assert.equal(squash(chunks.map(textOf).join('')), squash(PROSE), 'nothing lost, nothing repeated, in order');
    for (let i = 1; i < chunks.length; i++) assert.ok((chunks[i]?.sourceStart ?? 0) >= (chunks[i - 1]?.sourceEnd ?? 0));
  });

  test('boundaries say what separates the chunks', () => {
    const chunks = planText(PROSE, { maxBytes: 150 });
    const boundaries = chunks.map((c) => c.boundary);
    assert.equal(boundaries.at(-1), 'end');
    // The cuts that fall on the blank lines between paragraphs are paragraph boundaries, the others sentences.
    chunks.slice(0, -1).forEach((c, i) => {
      const gap = PROSE.slice(c.sourceEnd, chunks[i + 1]?.sourceStart);
      assert.equal(c.boundary, gap.includes('\n\n') ? 'paragraph' : 'sentence', JSON.stringify(gap));
    });
    assert.ok(boundaries.includes('paragraph') && boundaries.includes('sentence'), boundaries.join(','));
  });

  test('greedy: a chunk takes every further sentence that fits', () => {
    const sentences = splitSentences(PROSE);
    const chunks = planText(PROSE, { maxBytes: 400 });
    chunks.slice(0, -1).forEach((c, i) => {
      const next = chunks[i + 1] as SpeechChunk;
      const firstOfNext = sentences.find((s) => s.start >= next.sourceStart);
      assert.ok(firstOfNext);
      assert.ok(bytes(PROSE.slice(c.sourceStart, firstOfNext.end)) > 400, 'the next sentence would not have fitted');
    });
  });

  test('a sentence over the limit is cut after clause marks first', () => {
    const sentence = `${Array.from({ length: 12 }, (_, i) => `the ${['first', 'second', 'third', 'fourth'][i % 4]} clause of a very long sentence number ${i + 1}`).join(', ')}.`;
    const chunks = planText(sentence, { maxBytes: 200 });
    assert.ok(chunks.length > 1);
    for (const c of chunks.slice(0, -1)) {
      assert.match(textOf(c), /,$/u, 'cut right after a comma');
      assert.equal(c.boundary, 'clause');
      assert.ok(c.bytes <= 200);
      // At least half the room is used: the cut is the last comma that fits, not the first.
      assert.ok(c.bytes >= 100, `${c.bytes} bytes`);
    }
    assert.equal(squash(chunks.map(textOf).join('')), squash(sentence));
  });

  test('a sentence without clause marks is cut between words', () => {
    const sentence = `${'and then the keeper walked down the long winding stair to the door '.repeat(8).trim()}.`;
    const chunks = planText(sentence, { maxBytes: 120 });
    assert.ok(chunks.length > 3);
    for (const [i, c] of chunks.entries()) {
      assert.ok(c.bytes <= 120);
      if (i < chunks.length - 1) {
        assert.equal(c.boundary, 'word');
        assert.match(sentence.slice(c.sourceEnd, c.sourceEnd + 1), /\s/u, 'the cut is at a space');
      }
    }
    assert.equal(chunks.map(textOf).join(' '), sentence, 'words are never cut');
  });

  test('multibyte text: limits count UTF-8 bytes, and cuts never split a character', () => {
    // Arabic: 2 bytes a letter; CJK: 3; emoji: 4 each, more as ZWJ sequences.
    const arabic = 'يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق. وقد وهبوا عقلاً وضميرًا وعليهم أن يعامل بعضهم بعضًا بروح الإخاء. لكل إنسان حق التمتع بكافة الحقوق والحريات الواردة في هذا الإعلان، دون أي تمييز.';
    const chinese = '人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。人人有资格享有本宣言所载的一切权利和自由。';
    for (const [name, text, max] of [
      ['arabic', arabic, 120],
      ['chinese', chinese, 100],
    ] as const) {
      const chunks = planText(text, { maxBytes: max });
      assert.ok(chunks.length > 1, name);
      for (const c of chunks) {
        const t = textOf(c);
        assert.ok(c.bytes <= max, `${name}: ${c.bytes} bytes`);
        assert.ok(t.length < c.bytes, `${name}: multibyte (${t.length} chars, ${c.bytes} bytes)`);
        assert.equal(Buffer.from(t, 'utf8').toString('utf8'), t, `${name}: valid UTF-8, no lone surrogate`);
      }
      assert.equal(squash(chunks.map(textOf).join('')), squash(text), name);
    }
    // The Chinese text is cut at its sentence ends (。).
    assert.ok(planText(chinese, { maxBytes: 100 }).every((c) => /。$/u.test(textOf(c))));
  });

  test('text without spaces or punctuation is cut at grapheme boundaries', () => {
    const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    // Combining marks (Devanagari, decomposed Latin, Arabic tashkeel), ZWJ emoji families, flags.
    const unit = 'नमस्ते' + 'e\u0301' + 'بِسْمِ' + '👩‍👩‍👧‍👦' + '🇩🇪' + '字';
    const text = unit.repeat(20);
    const chunks = planText(text, { maxBytes: 70 });
    const boundaries = new Set([...graphemes.segment(text)].map((s) => s.index));
    assert.ok(chunks.length > 5);
    for (const c of chunks) {
      assert.ok(c.bytes <= 70, `${c.bytes}`);
      assert.ok(boundaries.has(c.sourceStart) && (boundaries.has(c.sourceEnd) || c.sourceEnd === text.length), `cut at ${c.sourceStart}-${c.sourceEnd} is on grapheme boundaries`);
    }
    assert.equal(chunks.map(textOf).join(''), text);
  });

  test('random texts in many scripts: every invariant at every limit', () => {
    const random = mulberry32(11);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    const words = ['light', 'keeper', 'Mr.', 'e.g.', '3.14', 'منارة', 'البحرِ', '灯塔', '海浪', 'café', 'नमस्ते', '👩‍👩‍👧', '🇩🇪', 'é', 'Straße'];
    for (let n = 0; n < 200; n++) {
      let text = '';
      const count = 5 + Math.floor(random() * 300);
      for (let i = 0; i < count; i++) {
        text += pick(words);
        const r = random();
        text += r < 0.08 ? '. ' : r < 0.12 ? '\n\n' : r < 0.2 ? ', ' : r < 0.22 ? '' : r < 0.24 ? '\n' : ' ';
      }
      const max = 64 + Math.floor(random() * 400);
      const chunks = planText(text, { maxBytes: max });
      const cuts = new Set([...graphemes.segment(text)].map((s) => s.index));
      for (const c of chunks) {
        assert.ok(c.bytes <= max && c.bytes === bytes(textOf(c)), `text ${n}: ${c.bytes} > ${max}`);
        assert.equal(textOf(c), text.slice(c.sourceStart, c.sourceEnd));
        assert.ok(cuts.has(c.sourceStart) && (cuts.has(c.sourceEnd) || c.sourceEnd === text.length), `text ${n}: cut inside a grapheme`);
      }
      assert.equal(squash(chunks.map(textOf).join('')), squash(text), `text ${n}: all text once, in order`);
    }
  });

  test("Google's limit on a long text: several chunks of at most 5,000 bytes, quickly", () => {
    const text = Array.from({ length: 30 }, () => PROSE).join('\n\n');
    const least = Math.ceil(bytes(text) / GOOGLE_MAX_INPUT_BYTES);
    assert.ok(least >= 4);
    const started = performance.now();
    const chunks = planSpeech({ text }, { maxBytes: GOOGLE_MAX_INPUT_BYTES, language: 'en' });
    const ms = performance.now() - started;
    assert.ok(chunks.length >= least && chunks.length <= least + 1, `${chunks.length} chunks for ${bytes(text)} bytes`);
    for (const c of chunks) assert.ok(c.bytes <= GOOGLE_MAX_INPUT_BYTES && c.bytes > GOOGLE_MAX_INPUT_BYTES * 0.7, `${c.bytes}`);
    assert.ok(ms < 500, `${ms.toFixed(0)} ms`);
  });
});

// ---------------------------------------------------------------------------------------------
// SSML

/** Tags, comments and CDATA of a document, by an independent tokenizer; throws on a broken one. */
function tags(ssml: string): string[] {
  const out: string[] = [];
  const re = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\/?[A-Za-z][\w:.-]*(?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*\/?>|</g;
  for (const m of ssml.matchAll(re)) {
    if (m[0] === '<') throw new Error(`a '<' at ${m.index} starts no tag in ${ssml}`);
    out.push(m[0]);
  }
  return out;
}

/** Checks that `ssml` is well-formed: tags nest, entities are whole, one `<speak>` root. */
function assertWellFormed(ssml: string): void {
  const stack: string[] = [];
  for (const t of tags(ssml)) {
    if (t.startsWith('<!')) continue;
    const name = /^<\/?([\w:.-]+)/.exec(t)?.[1] ?? '';
    if (t.startsWith('</')) assert.equal(stack.pop(), name, `</${name}> closes the element open in ${ssml}`);
    else if (!t.endsWith('/>')) stack.push(name);
  }
  assert.deepEqual(stack, [], `every element closed in ${ssml}`);
  assert.match(ssml, /^<speak[\s>][\s\S]*<\/speak>$/u);
  const text = ssml.replace(/<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<[^>]*>/g, '');
  assert.doesNotMatch(text, /&(?![A-Za-z]+;|#\d+;|#x[0-9A-Fa-f]+;)/u, `no entity cut in ${ssml}`);
}

/** Text content (tags removed, entities as written, no white space), to compare source and chunks. */
const content = (ssml: string): string => squash(ssml.replace(/<!--[\s\S]*?-->|<[^>]*>/g, ''));
/** Total pause asked for by <break> tags, ms. */
const breakTotal = (ssml: string): number =>
  [...ssml.matchAll(/<break\b([^>]*)\/>/g)].reduce((sum, m) => {
    const time = /time="(\d+(?:\.\d+)?)(ms|s)"/.exec(m[1] ?? '');
    return sum + (time ? Number(time[1]) * (time[2] === 's' ? 1000 : 1) : 400);
  }, 0);

/** The planner's invariants on one document and limit. */
function checkPlan(source: string, maxBytes: number): SpeechChunk[] {
  const chunks = planSsml(source, { maxBytes });
  if (content(source) === '') {
    // Nothing to say (only breaks, marks, comments): no request at all.
    assert.deepEqual(chunks, []);
    return chunks;
  }
  const sourceTags = new Set(tags(source));
  const speakOpen = /^\s*(<speak\b[^>]*>)/.exec(source)?.[1] ?? '<speak>';
  for (const c of chunks) {
    const ssml = textOf(c);
    assert.ok('ssml' in c.input);
    assert.ok(c.bytes <= maxBytes, `${c.bytes} > ${maxBytes}: ${ssml}`);
    assert.equal(c.bytes, bytes(ssml));
    assertWellFormed(ssml);
    assert.notEqual(content(ssml), '', `a chunk with something to say: ${ssml}`);
    assert.ok(ssml.startsWith(speakOpen), `keeps the <speak> start tag: ${ssml.slice(0, 60)}`);
    // Never cut inside a tag: every tag in a chunk is one of the source's, verbatim.
    for (const t of tags(ssml)) assert.ok(sourceTags.has(t) || t === '<speak>' || t === '</speak>', `tag ${t} is the source's`);
  }
  assert.equal(chunks.map((c) => content(textOf(c))).join(''), content(source), 'all text, once, in order');
  const pauses = chunks.reduce((sum, c) => sum + breakTotal(textOf(c)) + (c.pauseAfterMs ?? 0) + (c.pauseBeforeMs ?? 0), 0);
  assert.equal(pauses, breakTotal(source), 'every break is said, as a tag or as a pause at a cut');
  return chunks;
}

describe('planSsml', () => {
  const DOC = [
    '<speak xml:lang="en-US" version="1.1">',
    '<p><s>The old lighthouse stood at the edge of the cliff.</s> <s>Every night its beam swept across the water.</s></p>',
    '<break time="800ms"/>',
    '<p>The keeper was called <sub alias="Thomas">Tom</sub> &amp; he kept a log. He wrote the date as <say-as interpret-as="date" format="dmy">12-10-1921</say-as>.',
    '<prosody rate="slow" pitch="-2st">In the winter storms the waves broke over the rocks. The spray rose as high as the gallery.</prosody> Nobody read the log.</p>',
    '<p><emphasis level="strong">What mattered</emphasis> was that the light never failed.<mark name="end"/></p>',
    '</speak>',
  ].join('\n');

  test('a document within the limit is one chunk, as written', () => {
    const chunks = checkPlan(DOC, 5000);
    assert.equal(chunks.length, 1);
    assert.equal(content(textOf(chunks[0] as SpeechChunk)), content(DOC));
    assert.equal(chunks[0]?.pauseAfterMs, undefined);
  });

  for (const max of [130, 160, 200, 260, 400]) {
    test(`cut at ${max} bytes: well-formed chunks, whole tags, all text, every break`, () => {
      const chunks = checkPlan(DOC, max);
      assert.ok(chunks.length > 1);
    });
  }

  test('a <break> at a cut becomes the pause after the chunk', () => {
    const chunks = checkPlan(DOC, 200);
    const first = chunks[0] as SpeechChunk;
    assert.match(textOf(first), /never|beam swept across the water\.<\/s><\/p><\/speak>$/u);
    assert.equal(first.boundary, 'break');
    assert.equal(first.pauseAfterMs, 800);
    assert.doesNotMatch(textOf(first), /<break/u);
  });

  test('chunks inside an element carry copies of its start tag (prosody and paragraph kept)', () => {
    const chunks = checkPlan(DOC, 160);
    const slow = chunks.filter((c) => textOf(c).includes('waves') || textOf(c).includes('spray'));
    assert.ok(slow.length >= 1);
    for (const c of slow) assert.match(textOf(c), /<p><prosody rate="slow" pitch="-2st">/u);
  });

  test('an <s> that fits is never cut; one that does not is cut inside, re-wrapped', () => {
    const doc = `<speak><s>${'word '.repeat(10)}end.</s><s>${'longer words here '.repeat(12)}end.</s></speak>`;
    const chunks = checkPlan(doc, 120);
    const firstS = chunks.filter((c) => textOf(c).includes('word word'));
    assert.equal(firstS.length, 1, 'the short <s> is in one chunk');
    assert.ok(chunks.filter((c) => textOf(c).includes('longer words')).length > 1);
    for (const c of chunks) assert.match(textOf(c), /^<speak><s>/u);
  });

  test('entities are never cut, and neither are inline elements', () => {
    const doc = `<speak>${'Fish &amp; chips &lt;3 &#x1F600; &#233;t&#233;, '.repeat(6)}<say-as interpret-as="characters">ABCDEFGH</say-as> and <sub alias="World Wide Web">WWW</sub>.</speak>`;
    for (const max of [70, 90, 140]) {
      const chunks = checkPlan(doc, max);
      assert.equal(chunks.filter((c) => textOf(c).includes('<say-as interpret-as="characters">ABCDEFGH</say-as>')).length, 1);
      assert.equal(chunks.filter((c) => textOf(c).includes('<sub alias="World Wide Web">WWW</sub>')).length, 1);
    }
  });

  test('a fragment without <speak> is wrapped in one', () => {
    const chunks = checkPlan('Hello there. <break time="1s"/> General Kenobi!', 64);
    assert.ok(chunks.every((c) => textOf(c).startsWith('<speak>') && textOf(c).endsWith('</speak>')));
  });

  test('breaks before the first words stay in the first chunk; trailing breaks in the last', () => {
    const chunks = checkPlan('<speak><break time="300ms"/>First sentence here. Second one follows it.<break time="2s"/></speak>', 5000);
    assert.equal(chunks.length, 1);
    assert.match(textOf(chunks[0] as SpeechChunk), /^<speak><break time="300ms"\/>First[\s\S]*it\.<break time="2s"\/><\/speak>$/u);
  });

  test('an element that cannot be cut and does not fit is INPUT_TOO_LARGE', () => {
    const doc = `<speak>Short. <say-as interpret-as="characters">${'X'.repeat(200)}</say-as></speak>`;
    assert.throws(
      () => planSsml(doc, { maxBytes: 150 }),
      (err) => err instanceof PermanentError && err.code === 'INPUT_TOO_LARGE',
    );
  });

  test('markup that is not well-formed is INVALID_SSML', () => {
    for (const bad of ['<speak>unclosed <p>paragraph</speak>', '<speak>a < b</speak>', '<speak><break time=1s/></speak>', '<speak>one</speak><speak>two</speak>', '<speak>x</speak> trailing text', '<speak><p>x</s></speak>']) {
      assert.throws(
        () => planSsml(bad, { maxBytes: 5000 }),
        (err) => err instanceof PermanentError && err.code === 'INVALID_SSML',
        bad,
      );
    }
  });

  test('random documents: every invariant at every limit', () => {
    const random = mulberry32(7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const words = ['light', 'keeper', 'storm', 'gallery', 'منارة', 'البحر', '灯塔', '海浪', 'café', 'naïve', '👩‍👩‍👧', 'Fish &amp; chips', '&lt;3', '&#233;t&#233;'];
    const sentence = (): string => {
      const n = 3 + Math.floor(random() * 12);
      const parts = Array.from({ length: n }, () => pick(words));
      if (random() < 0.3) parts.splice(1, 0, `<say-as interpret-as="characters">${pick(['ABC', 'XYZ', 'Q'])}</say-as>`);
      if (random() < 0.2) parts.splice(2, 0, `<sub alias="${pick(['Thomas', 'World Wide Web'])}">${pick(['Tom', 'WWW'])}</sub>`);
      if (random() < 0.2) parts.push(`<mark name="m${Math.floor(random() * 100)}"/>`);
      return `${parts.join(random() < 0.3 ? ', ' : ' ')}${pick(['.', '!', '?', '。'])}`;
    };
    const block = (depth: number): string => {
      const r = random();
      if (r < 0.2) return `<break time="${pick(['200ms', '1s', '1.5s'])}"/>`;
      if (r < 0.45) return `<s>${sentence()}</s>`;
      if (r < 0.6 && depth < 2) return `<prosody rate="${pick(['slow', 'fast', '90%'])}">${Array.from({ length: 1 + Math.floor(random() * 4) }, () => block(depth + 1)).join(' ')}</prosody>`;
      if (r < 0.7 && depth < 2) return `<emphasis level="moderate">${sentence()}</emphasis>`;
      if (r < 0.75) return '<!-- a comment -->';
      return sentence();
    };
    for (let doc = 0; doc < 60; doc++) {
      const paragraphs = Array.from({ length: 1 + Math.floor(random() * 5) }, () => `<p>${Array.from({ length: 1 + Math.floor(random() * 6) }, () => block(0)).join(' ')}</p>`);
      const source = `<speak xml:lang="${pick(['en-US', 'ar', 'zh-CN'])}">${paragraphs.join('\n')}</speak>`;
      const max = 150 + Math.floor(random() * 500);
      try {
        checkPlan(source, max);
      } catch (err) {
        // An inline element longer than a chunk alone may legitimately be refused; nothing else may fail.
        if (err instanceof PermanentError && err.code === 'INPUT_TOO_LARGE') continue;
        throw new Error(`document ${doc} at ${max} bytes: ${err instanceof Error ? err.message : String(err)}\n${source}`, { cause: err });
      }
    }
  });
});

describe('ssmlToSpeechParts (what the local voices say)', () => {
  test('text in order, breaks as pauses, sub aliases, spelled-out say-as, audio fallback', () => {
    const doc = parseSsml(
      '<speak><p>Hello <sub alias="World Wide Web">WWW</sub> users</p><break time="1.5s"/><s>Spell <say-as interpret-as="characters">ABC</say-as> now</s>' +
        '<audio src="gs://x/y.mp3"><desc>a bell</desc>Ding dong.</audio><break strength="weak"/><break time="100ms"/>Fish &amp; chips.<mark name="m"/></speak>',
    );
    const parts = ssmlToSpeechParts(doc);
    assert.deepEqual(parts, [
      { text: 'Hello World Wide Web users.' },
      { pauseMs: 1500 },
      { text: 'Spell A B C now. Ding dong.' },
      { pauseMs: 300 },
      { text: 'Fish & chips.' },
    ]);
  });
});

/** A small seeded PRNG (mulberry32), so the random test is the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
