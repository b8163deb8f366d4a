/**
 * The sentence splitter on real text: OCR output and a born-digital PDF from the corpus (copies in
 * test/fixtures), LibriVox transcripts and the Arabic HTML from the shared corpus (quoted here),
 * the United Nations' Arabic text of the Universal Declaration of Human Rights, and sentences
 * written to hit the cases `Intl.Segmenter` gets wrong (abbreviations, ordinals, quotes).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import { splitSentences, type Sentence } from '../../shared/text/sentences.js';
import { fixturePath } from '../helpers/paths.js';

/** Splits and checks the invariants every result must keep; returns the sentence texts. */
function split(text: string, options: Parameters<typeof splitSentences>[1] = {}): string[] {
  const sentences = splitSentences(text, options);
  assertInvariants(text, sentences);
  return sentences.map((s) => s.text);
}

function assertInvariants(text: string, sentences: readonly Sentence[]): void {
  let previousEnd = 0;
  for (const s of sentences) {
    assert.equal(text.slice(s.start, s.end), s.text, 'text is the slice at its offsets');
    assert.ok(s.start >= previousEnd, `in order, no overlap at ${s.start}`);
    assert.ok(s.end > s.start);
    assert.doesNotMatch(s.text, /^\s|\s$/u, 'no white space at the edges');
    previousEnd = s.end;
  }
}

/** The UN's Arabic text of the UDHR: the preamble's last paragraph, articles 1–3 with their headings. */
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

/** corpus/audio/sense_and_sensibility_01_austen_64kb-08{70,80,90}.txt, one after the other. */
const AUSTEN_TRANSCRIPT = [
  'and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them',
  ' he was not an ill disposed young man',
  ' unless to be rather cold hearted and rather selfish is to be ill disposed',
].join('\n');

describe('abbreviations, numbers and references', () => {
  test('English titles, initials, e.g./i.e., times, dates and references', () => {
    assert.deepEqual(split('Mr. Smith met Dr. Jones at 3.14 p.m. on Jan. 5. He said e.g. this works, i.e. well. Then etc. and so on. See 2:255 and §1.2 here.'), [
      'Mr. Smith met Dr. Jones at 3.14 p.m. on Jan. 5.',
      'He said e.g. this works, i.e. well.',
      'Then etc. and so on.',
      'See 2:255 and §1.2 here.',
    ]);
    assert.deepEqual(split('J. R. R. Tolkien wrote it (e.g. The Hobbit). See Fig. 3 and pp. 12-14 of Vol. 2. It cost $3.50, i.e. 3.14 units.'), [
      'J. R. R. Tolkien wrote it (e.g. The Hobbit).',
      'See Fig. 3 and pp. 12-14 of Vol. 2.',
      'It cost $3.50, i.e. 3.14 units.',
    ]);
    // A dotted abbreviation at the end of a sentence still ends it.
    assert.deepEqual(split('U.S. officials met in the U.K. yesterday. They agreed.'), ['U.S. officials met in the U.K. yesterday.', 'They agreed.']);
  });

  test('German: z.B., z. B., d. h., ca., vgl., S., ordinal dates and centuries', () => {
    assert.deepEqual(
      split('Das ist z.B. ein Test. Er kam am 3. Mai. Dr. Müller sagt: „Hallo.“ Dann ging er. Das kostet ca. 5 Euro, d.h. wenig. Vgl. S. 5. Am 3. Oktober 1990 war es. Es war im 19. Jahrhundert.', { language: 'deu' }),
      ['Das ist z.B. ein Test.', 'Er kam am 3. Mai.', 'Dr. Müller sagt: „Hallo.“', 'Dann ging er.', 'Das kostet ca. 5 Euro, d.h. wenig.', 'Vgl. S. 5.', 'Am 3. Oktober 1990 war es.', 'Es war im 19. Jahrhundert.'],
    );
    assert.deepEqual(split('Es gilt: X ∈ T und ∅ ∈ T, d. h. X und ∅ sind offen. Mengen wie z. B. [0, 1) sind weder offen noch abgeschlossen.'), [
      'Es gilt: X ∈ T und ∅ ∈ T, d. h. X und ∅ sind offen.',
      'Mengen wie z. B. [0, 1) sind weder offen noch abgeschlossen.',
    ]);
    // A single capital after a formula ends a sentence: it is a variable, not an initial.
    assert.deepEqual(split('Sei X ein topologischer Raum und x ∈ X. Sei außerdem U offen.'), ['Sei X ein topologischer Raum und x ∈ X.', 'Sei außerdem U offen.']);
  });

  test('French: M., guillemets with inner spaces, the ellipsis character', () => {
    assert.deepEqual(split('M. Dupont est arrivé. Il a dit « Bonjour ! » puis il est parti… Voilà.', { language: 'fra' }), [
      'M. Dupont est arrivé.',
      'Il a dit « Bonjour ! » puis il est parti…',
      'Voilà.',
    ]);
  });

  test('Indonesian: Dr., dsb. at a sentence end, tgl. before a date', () => {
    assert.deepEqual(split('Dr. Budi pergi ke pasar, dsb. Kemudian dia pulang. Hal ini terjadi pd. tgl. 5 Mei.', { language: 'ind' }), [
      'Dr. Budi pergi ke pasar, dsb.',
      'Kemudian dia pulang.',
      'Hal ini terjadi pd. tgl. 5 Mei.',
    ]);
  });
});

describe('quotes, brackets and ellipses', () => {
  test('a quote or bracket closing after the full stop stays with its sentence', () => {
    assert.deepEqual(split('He said "Stop." Then he left... And came back. (This is a note.) Next one!'), ['He said "Stop."', 'Then he left...', 'And came back.', '(This is a note.)', 'Next one!']);
  });

  test('a lower-case continuation after ? or ! is not a new sentence, an opening quote is', () => {
    assert.deepEqual(split('She asked "Why?" and left. "Go!" he said. "Wait." She stayed.'), ['She asked "Why?" and left.', '"Go!" he said.', '"Wait."', 'She stayed.']);
  });

  test('spaced ellipses inside a sentence (corpus OCR)', () => {
    assert.deepEqual(split('"The Saracens, Ottomans, Austrians . . . none of them harmed our city. But the Serbs tried."'), ['"The Saracens, Ottomans, Austrians . . . none of them harmed our city.', 'But the Serbs tried."']);
  });

  test('enumerators stay with their item; a numbered section heading with its title', () => {
    assert.deepEqual(split('Steps: 1. Open the file. 2. Close it.'), ['Steps: 1.', 'Open the file.', '2. Close it.']);
    assert.deepEqual(split('1.1. TOPOLOGISCHE RÄUME'), ['1.1. TOPOLOGISCHE RÄUME']);
  });
});

describe('Arabic', () => {
  test('UDHR: full stops end sentences, ، and ؛ do not; headings are their own sentences', () => {
    assert.deepEqual(split(UDHR_AR, { language: 'ara' }), [
      UDHR_AR.split('\n')[0],
      'المادة 1',
      'يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق.',
      'وقد وهبوا عقلاً وضميرًا وعليهم أن يعامل بعضهم بعضًا بروح الإخاء.',
      'المادة 2',
      UDHR_AR.split('\n')[8],
      UDHR_AR.split('\n')[10],
      'المادة 3',
      'لكل فرد الحق في الحياة والحرية وسلامة شخصه.',
    ]);
  });

  test('the Arabic question mark (with or without a space), the Arabic full stop ۔, guillemets', () => {
    assert.deepEqual(split('هل هو صحيح؟ نعم، إنه صحيح؛ وهذا جيد. هذا نص۔ وهذا آخر؟وهذا ثالث! «هل جاء؟» قال نعم.'), [
      'هل هو صحيح؟',
      'نعم، إنه صحيح؛ وهذا جيد.',
      'هذا نص۔',
      'وهذا آخر؟',
      'وهذا ثالث!',
      '«هل جاء؟»',
      'قال نعم.',
    ]);
  });

  test('corpus/html/habibi.html: Arabic with diacritics and Latin on one line', () => {
    assert.deepEqual(split('حَبيبي habibi'), ['حَبيبي habibi']);
  });
});

describe('lines, paragraphs, pages and lists', () => {
  test('corpus/ocr/phototest.txt: wrapped lines are joined, sentences verbatim with their line breaks', () => {
    const text = readFileSync(fixturePath('ocr/phototest.txt'), 'utf8');
    assert.deepEqual(split(text), [
      'This is a lot of 12 point text to test the\nocr code and see if it works on all types\nof file format.',
      'The quick brown dog jumped over the\nlazy fox.',
      'The quick brown dog jumped\nover the lazy fox.',
      'The quick brown dog\njumped over the lazy fox.',
      'The quick\nbrown dog jumped over the lazy fox.',
    ]);
  });

  test('corpus/ocr/8087_054.3B.txt: hyphenation, indented paragraphs, columns, quotes, B.C.', () => {
    const text = readFileSync(fixturePath('ocr/8087_054.3B.txt'), 'utf8');
    const sentences = split(text);
    // A sentence running on across a column break (blank lines, lower-case continuation).
    assert.ok(sentences.includes('Dubrovnik has weath-\nered time and war for so long\n\n\nthat historians remain igno-\nrant of its origins.'));
    assert.ok(sentences.includes('They be-\nlieve it may have grown out of\nthe Greco-Roman city of Epi-\ndaurus, first mentioned in 47\nB.C., and legends place a set-\ntlement here a thousand years\nearlier.'));
    // An indented line starts a paragraph; the quote opening a sentence stays at its start.
    assert.ok(sentences.includes('Today the city\'s quiet con-\nfidence has been shaken by\nthe reality of modern war-\nfare.'));
    assert.ok(sentences.includes('"Even Napoleon, whose\narmy blew off the nose of\nthe Sphinx, did not touch\nDubrovnik," said Milo, a big,\nmustachioed Croatian and an\nunemployed tour guide.'));
    assert.ok(sentences.includes('Most answered, "No, not yet."'));
    assert.ok(sentences.includes('Are there still risks?'));
    assert.equal(sentences[0], 'd a t e l i n e');
  });

  test('paragraphs and form feeds are boundaries; a page break inside a sentence is not', () => {
    assert.deepEqual(split('line one\nline two\n\nPara two. Sentence.\fPage two starts here'), ['line one\nline two', 'Para two.', 'Sentence.', 'Page two starts here']);
    assert.deepEqual(split('A heading\n\fNew page.'), ['A heading', 'New page.']);
    assert.deepEqual(split('the page ends in the middle of a\n\fsentence that goes on. Next.'), ['the page ends in the middle of a\n\fsentence that goes on.', 'Next.']);
    assert.deepEqual(split('First.\r\nSecond line\r\n\r\nThird.'), ['First.', 'Second line', 'Third.']);
  });

  test('headings and list items are sentences of their own', () => {
    assert.deepEqual(split('Definition 2\nSei (X, T) ein topologischer Raum und x ∈ X.\nIntro:\n• item one\n• item two\n- item three\n1. first\n2) second\n(iv) fourth\na) M is open'), [
      'Definition 2',
      'Sei (X, T) ein topologischer Raum und x ∈ X.',
      'Intro:',
      '• item one',
      '• item two',
      '- item three',
      '1. first',
      '2) second',
      '(iv) fourth',
      'a) M is open',
    ]);
    // A date wrapped onto the next line is not a numbered item.
    assert.deepEqual(split('Die Sitzung fand am\n12. Mai statt.'), ['Die Sitzung fand am\n12. Mai statt.']);
  });
});

describe('text without punctuation', () => {
  test('corpus/audio transcripts: lines become sentences', () => {
    assert.deepEqual(split(AUSTEN_TRANSCRIPT), [
      'and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them',
      'he was not an ill disposed young man',
      'unless to be rather cold hearted and rather selfish is to be ill disposed',
    ]);
  });

  test('an endless run of words is cut between words at maxChars', () => {
    const words = AUSTEN_TRANSCRIPT.replace(/\s+/gu, ' ').trim();
    const text = Array.from({ length: 40 }, () => words).join(' ');
    const sentences = split(text, { maxChars: 200 });
    assert.ok(sentences.length >= text.length / 200);
    for (const s of sentences) {
      assert.ok(s.length <= 200, `${s.length} chars`);
      assert.match(s, /^\p{L}.*\p{L}$/su, 'cut between words');
    }
    assert.equal(sentences.join(' '), text);
  });

  test('clause punctuation is preferred to a plain space when cutting', () => {
    const clause = 'a clause of some length without any full stop in it at all';
    const text = Array.from({ length: 20 }, () => clause).join('; ');
    for (const s of split(text, { maxChars: 150 })) assert.match(s, /(?:all;|all)$/u);
  });
});

describe('edges and size', () => {
  test('empty, white space and control characters', () => {
    assert.deepEqual(split(''), []);
    assert.deepEqual(split(' \n\f\t '), []);
    assert.deepEqual(split('\u0004'), []);
    assert.deepEqual(split('\u0004 One sentence.\u0004'), ['One sentence.']);
    assert.deepEqual(split('No full stop at the end'), ['No full stop at the end']);
  });

  test('offsets are UTF-16 indices: text outside the BMP before a sentence', () => {
    const text = '𝔄𝔅 math letters. 😀 Emoji next.';
    const sentences = splitSentences(text);
    assertInvariants(text, sentences);
    assert.deepEqual(sentences.map((s) => s.start), [0, text.indexOf('😀')]);
  });

  test('the 117-page corpus PDF (GeoTopo, German): linear time, invariants, abbreviations kept', () => {
    const text = execFileSync('pdftotext', ['-enc', 'UTF-8', fixturePath('pdf/GeoTopo-komprimiert.pdf'), '-'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const started = performance.now();
    const sentences = splitSentences(text, { language: 'deu' });
    const ms = performance.now() - started;
    assertInvariants(text, sentences);
    assert.ok(sentences.length > 2000, `${sentences.length} sentences`);
    assert.ok(ms < 3000, `${ms.toFixed(0)} ms for ${text.length} characters`);
    const texts = sentences.map((s) => s.text);
    assert.ok(texts.some((t) => t.includes('z. B. auch Schnitte zweier Kugeln')));
    texts.forEach((t, i) => {
      const next = texts[i + 1] ?? '';
      assert.ok(!(/(?:^|\s)z\.$/u.test(t) && next.startsWith('B.')) && !(/(?:^|\s)d\.$/u.test(t) && next.startsWith('h.')), `split inside z. B. or d. h.: ${t}`);
    });
    assert.ok(texts.includes('Sei (X, T) ein topologischer Raum und x ∈ X.'));
    for (const t of texts) assert.ok(t.length <= 1000);
  });
});
