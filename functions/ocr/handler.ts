/**
 * OCR stage: downloads the exact source generation the job took, runs the engine page by page with
 * live progress, and writes the text (and a per-page summary) as create-only derived objects keyed
 * on the generation. Claim, lease, attempts, cancel, completion and announcement are the stage
 * runner's (`shared/stages/runner.ts`); what is read comes from the job record, never the message.
 */
import path from 'node:path';
import { parseMessage } from '../../shared/events/envelope.js';
import { isOcrContentType, type OcrEngine, type OcrResult } from '../../shared/engines/ocr/types.js';
import { ocrCheckpoints } from '../../shared/stages/resume.js';
import { extractText, isExtractFamily } from '../../shared/engines/extract/index.js';
import { PermanentError } from '../../shared/errors/index.js';
import { textReadyEvent } from '../../shared/stages/text-ready.js';
import { leaseFor, runStage, type StageDefinition, type StageDeps, type StageOutcome } from '../../shared/stages/runner.js';
import { normalizeType } from '../../shared/content/sniff.js';
import type { StorageGateway } from '../../shared/storage/index.js';
import { derivedPrefix } from '../../shared/storage/names.js';
import { meteredStorage } from '../../shared/cost/meter.js';

export interface OcrDeps extends StageDeps {
  readonly storage: StorageGateway;
  readonly engine: OcrEngine;
}

export type OcrOutcome = StageOutcome;

/** The family of a declared type, for jobs ingested before detection recorded one. */
function familyOf(contentType: string): string {
  if (contentType === 'application/pdf') return 'pdf';
  if (contentType.startsWith('image/')) return 'image';
  if (contentType === 'text/markdown') return 'markdown';
  if (contentType === 'text/html') return 'html';
  if (contentType === 'application/vnd.openxmlformats-officedocument.wordprocessingml.document') return 'docx';
  if (contentType.startsWith('text/')) return 'text';
  return 'unknown';
}

export function ocrStage(deps: Pick<OcrDeps, 'storage' | 'engine' | 'jobs'>): StageDefinition {
  return {
    name: 'ocr',
    leaseMs: leaseFor('ocr'),
    announce(job) {
      return { topic: 'document-events', data: textReadyEvent(job) };
    },
    async afterComplete(job, log) {
      if (job.input.generation === null) return;
      const removed = await ocrCheckpoints(deps.jobs.ref(job.id), job.input.generation, log).clear();
      if (removed > 0) log.info(`ocr: ${removed} page checkpoint(s) removed`);
    },
    decode(eventData) {
      const { data: req, messageId } = parseMessage('ocr-requests', eventData);
      return {
        request: { jobId: req.jobId, projectId: req.projectId, documentId: req.documentId, generation: req.source.generation, messageId },
        // The request names the job's own source object, or it is not this job's request.
        matches: (job) => job.input.bucket === req.source.bucket && job.input.object === req.source.object,
      };
    },
    async work({ job, signal, workDir, progress, log, usage }) {
      const storage = meteredStorage(deps.storage, usage);
      // Everything from the job record: the message's content type or object are not trusted. The
      // type ingest detected from the bytes routes the work; the declared one only for jobs from
      // before detection.
      const contentType = normalizeType(job.input.detectedType ?? job.input.contentType);
      const family = job.input.family ?? familyOf(contentType);
      const generation = job.input.generation;
      const documentId = job.documentId;
      if (generation === null || documentId === null) throw new PermanentError('JOB_NOT_INGESTED', `job ${job.id} has no source generation or document`);
      const sourceRef = { bucket: job.input.bucket, object: job.input.object, generation };
      const source = path.join(workDir, 'source');
      await storage.download(sourceRef, source);

      let result: OcrResult;
      let resumedPages = 0;
      if (isExtractFamily(family)) {
        // Text, Markdown, HTML, DOCX: their text is read, not recognised (no OCR).
        const started = performance.now();
        const extracted = await extractText(source, family);
        result = { engine: `extract-${family}`, pageCount: 1, language: extracted.language, engineMs: performance.now() - started, pages: [{ pageNumber: 1, text: extracted.text, method: 'extract', rotation: 0 }] };
      } else {
        if (!isOcrContentType(contentType)) throw new PermanentError('UNSUPPORTED_CONTENT_TYPE', `${contentType} is not a document Scriptorium reads`);
        // Pages an earlier attempt of this stage recognised (for this generation) are not recognised again.
        const checkpoints = ocrCheckpoints(deps.jobs.ref(job.id), generation, log);
        const donePages = await checkpoints.load();
        resumedPages = donePages.size;
        if (resumedPages > 0) log.info(`ocr: resuming with ${resumedPages} page(s) done by an earlier attempt`, { resumedFrom: resumedPages });
        // Document AI bills every page it processed, also when a later page fails the attempt: pages
        // are counted as the engine reports them done (the local engine's count the same). Pages
        // resumed from checkpoints were billed to the attempt that recognised them.
        let pagesCounted = resumedPages;
        const countPages = (done: number): void => {
          usage.add('ocrPages', Math.max(0, done - pagesCounted));
          pagesCounted = Math.max(pagesCounted, done);
        };
        result = await deps.engine.extract(
          { path: source, contentType },
          {
            signal,
            donePages,
            onPages: (pages, pageCount) => checkpoints.save(pages[0]?.page.pageNumber ?? 0, { pageCount, pages: pages.map((d) => ({ page: d.page, ...(d.languageVotes ? { languageVotes: [...d.languageVotes] } : {}) })) }),
            onProgress: ({ pagesDone, pageCount }) => {
              countPages(pagesDone);
              return progress(pagesDone / pageCount, { pagesDone, pageCount, ...(resumedPages > 0 ? { resumedPages } : {}) });
            },
          },
        );
        countPages(result.pageCount);
      }

      const prefix = derivedPrefix({ projectId: job.projectId, documentId, sourceGeneration: generation });
      const text = result.pages.map((p) => p.text).join('\f');
      const textObj = await storage.writeDerived({ bucket: sourceRef.bucket, object: `${prefix}text.txt`, contentType: 'text/plain; charset=utf-8', body: text, metadata: { jobId: job.id } });
      const pagesObj = await storage.writeDerived({
        bucket: sourceRef.bucket,
        object: `${prefix}pages.json`,
        contentType: 'application/json',
        body: JSON.stringify({ engine: result.engine, language: result.language, pages: result.pages.map(({ text: t, ...rest }) => ({ ...rest, chars: t.length })) }),
        metadata: { jobId: job.id },
      });
      const methods = { textLayer: result.pages.filter((p) => p.method === 'text-layer').length, ocr: result.pages.filter((p) => p.method === 'ocr').length, extract: result.pages.filter((p) => p.method === 'extract').length };
      return {
        result: {
          pageCount: result.pageCount,
          language: result.language,
          engine: result.engine,
          text: { bucket: textObj.bucket, object: textObj.object, generation: textObj.generation },
          pages: { bucket: pagesObj.bucket, object: pagesObj.object, generation: pagesObj.generation },
          pagesByMethod: methods,
          chars: text.length,
          // Pages taken from an earlier attempt's checkpoints rather than recognised again.
          resumedFrom: resumedPages,
        },
        metrics: { engineMs: Math.round(result.engineMs), pages: result.pageCount, textBytes: Buffer.byteLength(text), resumedPages },
        document: {
          pageCount: result.pageCount,
          language: result.language,
          text: { bucket: textObj.bucket, object: textObj.object, generation: textObj.generation, size: textObj.size, md5Hash: textObj.md5Hash, crc32c: textObj.crc32c },
        },
        message:
          methods.extract > 0
            ? `text extracted (${family}): ${text.length} characters, language ${result.language}`
            : `OCR completed: ${result.pageCount} page(s), language ${result.language} (${methods.textLayer} from the text layer, ${methods.ocr} by OCR)`,
      };
    },
  };
}

export function handleOcr(eventData: unknown, deps: OcrDeps): Promise<OcrOutcome> {
  return runStage(ocrStage(deps), eventData, deps);
}
