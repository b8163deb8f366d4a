/**
 * Text-comparison measures for engine tests: how much of a reference text an engine recovered,
 * independent of line breaks, case and punctuation.
 */

/** Lower-cased words (letters, digits, inner apostrophes), punctuation and layout dropped. */
export function words(text: string): string[] {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[’‘]/g, "'")
    .split(/[^\p{L}\p{N}']+/u)
    .map((w) => w.replace(/^'+|'+$/g, ''))
    .filter((w) => w.length > 0);
}

/**
 * Multiset word recall: the share of `expected`'s words (counted with multiplicity) that also occur
 * in `actual`. 1 when `expected` has no words. Order is ignored on purpose: reading order is tested
 * separately, and OCR line breaks should not count as errors.
 */
export function wordRecall(expected: string, actual: string): number {
  const want = words(expected);
  if (want.length === 0) return 1;
  const have = new Map<string, number>();
  for (const w of words(actual)) have.set(w, (have.get(w) ?? 0) + 1);
  let hits = 0;
  for (const w of want) {
    const n = have.get(w) ?? 0;
    if (n > 0) {
      hits++;
      have.set(w, n - 1);
    }
  }
  return hits / want.length;
}
