import { startFakeDocumentAi, FAKE_PROCESSOR } from './test/helpers/fake-documentai.js';
import { createGoogleOcrEngine } from './shared/engines/ocr/google.js';
const fake = await startFakeDocumentAi({ pageLimit: 2 });
const engine = createGoogleOcrEngine({ processor: FAKE_PROCESSOR, apiEndpoint: fake.endpoint, maxPagesPerRequest: 2 });
const t0 = performance.now();
const r = await engine.extract({ path: 'test/fixtures/pdf/pdflatex-4-pages.pdf', contentType: 'application/pdf' }, { onProgress: (p) => console.log('progress', p) });
console.log(performance.now() - t0, r.pageCount, r.language, r.engineMs, r.pages.map(p => [p.pageNumber, p.text.slice(0, 40), p.confidence, p.rotation]));
console.log(fake.requests.map(q => ({ ...q, content: q.content.length })));
try { await engine.extract({ path: 'test/fixtures/pdf/libreoffice-writer-password.pdf', contentType: 'application/pdf' }); } catch (e) { console.log(String(e)); }
fake.respond = () => ({ error: { code: 14, message: 'down' } });
const e2 = createGoogleOcrEngine({ processor: FAKE_PROCESSOR, apiEndpoint: fake.endpoint, retryDelayMs: 10 });
try { await e2.extract({ path: 'test/fixtures/ocr/phototest.tif', contentType: 'image/tiff' }); } catch (e) { console.log(String(e), (e as any).code); }
console.log(fake.requests.length);
await engine.close(); await e2.close(); await fake.close();
console.log('closed');
