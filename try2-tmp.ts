import { orderTextLayer } from './shared/engines/ocr/local.ts';
import { words } from './test/helpers/text-metrics.ts';
import { execFileSync } from 'node:child_process';
const C = '/work/shared/corpus/pdf';
for (const [f, n] of [['002-trivial-libre-office-writer',1],['GeoTopo-komprimiert',117],['crazyones-pdfa',1],['google-doc-document',1],['minimal-document',1],['multicolumn',3],['pdflatex-4-pages',4],['pdflatex-forms',1]] as const) {
  let bad = 0, reordered = 0, mismatch = 0;
  for (let p = 1; p <= n; p++) {
    const a = execFileSync('pdftotext', ['-f', String(p), '-l', String(p), `${C}/${f}.pdf`, '-'], { encoding: 'utf8' });
    const bb = execFileSync('pdftotext', ['-bbox-layout', '-f', String(p), '-l', String(p), `${C}/${f}.pdf`, '-'], { encoding: 'utf8' });
    const b = orderTextLayer(a, bb);
    const flows = bb.split('<flow>').length - 1, parts = a.replace(/\f/g,'').replace(/\s+$/,'').split('\n\n').length;
    if (flows !== parts) mismatch++;
    if (words(a).sort().join(' ') !== words(b).sort().join(' ')) bad++;
    if (a.replace(/\s+/g,' ').trim() !== b.replace(/\s+/g,' ').trim()) { reordered++; if (f === 'GeoTopo-komprimiert' && reordered <= 2) console.log('--- reordered p'+p+'\n', b.slice(0, 1500)); }
  }
  console.log(f, `pages=${n} multisetDiff=${bad} reordered=${reordered} countMismatch=${mismatch}`);
}
