/**
 * Word error rate, the standard measure of a transcript against a reference: (substitutions +
 * deletions + insertions) / reference words, from a word-level Levenshtein alignment. Texts are
 * compared case-, punctuation- and hyphenation-blind (`cold-hearted` = `cold hearted`); nothing
 * else is normalized (`mr` ≠ `mister`), so numbers are comparable with other plain WER reports.
 * Used by tests and benchmarks.
 */

/** Lower-cased words: letters, digits and inner apostrophes; everything else separates words. */
export function werWords(text: string): string[] {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[’‘]/g, "'")
    .split(/[^\p{L}\p{N}']+/u)
    .map((w) => w.replace(/^'+|'+$/g, ''))
    .filter((w) => w.length > 0);
}

export interface WordErrors {
  readonly referenceWords: number;
  readonly substitutions: number;
  readonly deletions: number;
  readonly insertions: number;
  /** (S + D + I) / N; 0 for two empty texts, 1 per inserted word over an empty reference (as Infinity would be useless). */
  readonly wer: number;
}

/** Word errors of `hypothesis` against `reference` (minimum edit distance; ties prefer substitutions). */
export function wordErrors(reference: string, hypothesis: string): WordErrors {
  const ref = werWords(reference);
  const hyp = werWords(hypothesis);
  const n = ref.length;
  const m = hyp.length;
  // cost[i][j]: edits turning ref[0..i) into hyp[0..j); one row at a time, with op counts alongside.
  type Cell = { cost: number; s: number; d: number; i: number };
  let previous: Cell[] = Array.from({ length: m + 1 }, (_, j) => ({ cost: j, s: 0, d: 0, i: j }));
  for (let i = 1; i <= n; i++) {
    const current: Cell[] = [{ cost: i, s: 0, d: i, i: 0 }];
    for (let j = 1; j <= m; j++) {
      const diag = previous[j - 1] as Cell;
      const up = previous[j] as Cell;
      const left = current[j - 1] as Cell;
      const same = ref[i - 1] === hyp[j - 1];
      const options: Cell[] = [
        same ? diag : { cost: diag.cost + 1, s: diag.s + 1, d: diag.d, i: diag.i },
        { cost: up.cost + 1, s: up.s, d: up.d + 1, i: up.i },
        { cost: left.cost + 1, s: left.s, d: left.d, i: left.i + 1 },
      ];
      current.push(options.reduce((best, c) => (c.cost < best.cost ? c : best)));
    }
    previous = current;
  }
  const last = previous[m] as Cell;
  return {
    referenceWords: n,
    substitutions: last.s,
    deletions: last.d,
    insertions: last.i,
    wer: n === 0 ? (m === 0 ? 0 : 1) : last.cost / n,
  };
}

/** Word error rate of `hypothesis` against `reference` (see {@link wordErrors}). */
export function wordErrorRate(reference: string, hypothesis: string): number {
  return wordErrors(reference, hypothesis).wer;
}
