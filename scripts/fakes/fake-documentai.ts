/**
 * A local Document AI: a real gRPC server speaking `google.cloud.documentai.v1.DocumentProcessorService`
 * from the protos `@google-cloud/documentai` ships (their `google/api`, `google/rpc`, `google/type`
 * and `google/longrunning` imports come from google-gax's copies), so the real client library talks
 * to it over HTTP/2 exactly as it would to Google. Only `ProcessDocument` is implemented; every other
 * method answers UNIMPLEMENTED.
 *
 * It records every request and checks what the service checks before any OCR (processor name,
 * MIME type, size and page limits), answering with the service's own error wording where it is
 * known. Documents are built the way Document AI builds them: one `text` for the whole document and
 * per-page text anchors as int64 code-point offsets into it, with layout orientation, confidence
 * and detected languages. By default the text comes from the input itself (pdftotext for PDFs,
 * tesseract for images); tests can answer with canned pages, an error, or never (to test aborts).
 * PDF page counts come from pdfinfo; the fake needs poppler-utils (and tesseract for images).
 *
 * Listens on 127.0.0.1 with an ephemeral port, plaintext.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { protos } from '@google-cloud/documentai';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { z } from 'zod';

import { runProcess } from '../../shared/engines/exec.js';
import { detectLanguage } from '../../shared/engines/language.js';
import { bindLoopback, loadClientProto, shutdownWithin, statusError } from './grpc.js';
import { RequestRecorder } from './recorder.js';

type IDocument = protos.google.cloud.documentai.v1.IDocument;
type IProcessResponse = protos.google.cloud.documentai.v1.IProcessResponse;

/** `build/src/index.js` → `build/protos` in both packages. */
const PROTO_FILE = 'google/cloud/documentai/v1/document_processor_service.proto';
const SERVICE = 'google.cloud.documentai.v1.DocumentProcessorService';

/** A processor name tests can use. */
export const FAKE_PROCESSOR = 'projects/demo-scriptorium/locations/eu/processors/0123456789abcdef';

/** Reading orientations, as Document AI names them. */
export type FakeOrientation = 'PAGE_UP' | 'PAGE_RIGHT' | 'PAGE_DOWN' | 'PAGE_LEFT';

/** One page of a canned answer. */
export interface FakePage {
  readonly text: string;
  readonly orientation?: FakeOrientation;
  /** BCP-47 codes with confidences, e.g. `[{ code: 'de-DE', confidence: 0.9 }]`. */
  readonly languages?: readonly { readonly code: string; readonly confidence: number }[];
  /** Layout confidence 0–1 (default 0.95). */
  readonly confidence?: number;
}

/** What the fake does with one request (after its own validation passed). */
export type FakeReply =
  | { readonly pages: readonly FakePage[] }
  | { readonly error: { readonly code: grpc.status; readonly message: string } }
  | { readonly hang: true };

/** A request as the server decoded it. */
export interface RecordedRequest {
  readonly name: string;
  readonly mimeType: string;
  readonly content: Buffer;
  /** `processOptions.individualPageSelector.pages`, when set. */
  readonly pageSelection: readonly number[] | undefined;
  readonly languageHints: readonly string[];
  readonly nativePdfParsing: boolean;
  readonly fieldMask: readonly string[];
  readonly skipHumanReview: boolean;
  readonly imagelessMode: boolean;
  /** Request metadata (x-goog-request-params, x-goog-api-client, authorization when sent). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Decides the reply to the `index`-th request (0-based, counting every request received). */
export type Responder = (request: RecordedRequest, index: number) => FakeReply | Promise<FakeReply>;

/** Settings of {@link startFakeDocumentAi}. */
export interface FakeDocumentAiOptions {
  /** The one processor that exists (default {@link FAKE_PROCESSOR}); others get NOT_FOUND. */
  readonly processor?: string;
  /** Pages per request the processor accepts (default 15, the OCR processor's online limit). */
  readonly pageLimit?: number;
  /** Bytes per request (default 20 MiB, as the service reports it: 20971520). */
  readonly maxBytes?: number;
  /** Default {@link textFromInput}. */
  readonly respond?: Responder;
}

/** A running fake. */
export interface FakeDocumentAi {
  /** `127.0.0.1:PORT`, for `SCRIPTORIUM_DOCUMENTAI_ENDPOINT` or the engine's `apiEndpoint`. */
  readonly endpoint: string;
  readonly port: number;
  /** Every request received, in order (including refused ones). */
  readonly requests: readonly RecordedRequest[];
  /** Calls the client cancelled before the server answered. */
  readonly cancelled: number;
  /** Replaceable between tests. */
  respond: Responder;
  /** Resolves once `count` requests have arrived in total. */
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

/** MIME types Document AI's OCR processor accepts. */
const SUPPORTED_MIME = new Set(['application/pdf', 'image/gif', 'image/tiff', 'image/jpeg', 'image/png', 'image/bmp', 'image/webp']);

const RequestSchema = z.object({
  name: z.string(),
  rawDocument: z.object({ content: z.instanceof(Buffer), mimeType: z.string() }).nullish(),
  processOptions: z
    .object({
      individualPageSelector: z.object({ pages: z.array(z.number()) }).nullish(),
      ocrConfig: z
        .object({
          hints: z.object({ languageHints: z.array(z.string()) }).nullish(),
          enableNativePdfParsing: z.boolean().optional(),
        })
        .nullish(),
    })
    .nullish(),
  fieldMask: z.object({ paths: z.array(z.string()) }).nullish(),
  skipHumanReview: z.boolean().optional(),
  imagelessMode: z.boolean().optional(),
});

/** Starts a fake on 127.0.0.1:0. Close it in `after`. */
export async function startFakeDocumentAi(options: FakeDocumentAiOptions = {}): Promise<FakeDocumentAi> {
  const processor = options.processor ?? FAKE_PROCESSOR;
  const pageLimit = options.pageLimit ?? 15;
  const maxBytes = options.maxBytes ?? 20 * 1024 * 1024;
  const work = await mkdtemp(join(tmpdir(), 'fake-documentai-'));
  const recorder = new RequestRecorder<RecordedRequest>();
  const requests = recorder.requests;
  let cancelled = 0;
  let sequence = 0;

  const definition = loadClientProto('@google-cloud/documentai', PROTO_FILE);
  const service = definition[SERVICE];
  if (!isService(service)) throw new Error(`${SERVICE} not found in ${PROTO_FILE}`);

  let respond: Responder = options.respond ?? textFromInput;

  const processDocument = (call: grpc.ServerUnaryCall<unknown, IProcessResponse>, callback: grpc.sendUnaryData<IProcessResponse>): void => {
    let answered = false;
    call.on('cancelled', () => {
      if (!answered) cancelled++;
    });
    const answer = (err: grpc.ServerErrorResponse | null, value?: IProcessResponse): void => {
      if (answered || call.cancelled) return;
      answered = true;
      callback(err, value);
    };
    void handle(call)
      .then((reply) => {
        if (reply === 'hang') return;
        if ('error' in reply) answer(statusError(reply.error.code, reply.error.message));
        else answer(null, reply);
      })
      .catch((err: unknown) => answer(statusError(grpc.status.INTERNAL, `fake Document AI failed: ${err instanceof Error ? err.message : String(err)}`)));
  };

  const handle = async (call: grpc.ServerUnaryCall<unknown, IProcessResponse>): Promise<IProcessResponse | { error: { code: grpc.status; message: string } } | 'hang'> => {
    const parsed = RequestSchema.safeParse(call.request);
    if (!parsed.success) return { error: { code: grpc.status.INVALID_ARGUMENT, message: `Request contains an invalid argument. ${parsed.error.message}` } };
    const r = parsed.data;
    const recorded: RecordedRequest = {
      name: r.name,
      mimeType: r.rawDocument?.mimeType ?? '',
      content: r.rawDocument?.content ?? Buffer.alloc(0),
      pageSelection: r.processOptions?.individualPageSelector?.pages,
      languageHints: r.processOptions?.ocrConfig?.hints?.languageHints ?? [],
      nativePdfParsing: r.processOptions?.ocrConfig?.enableNativePdfParsing ?? false,
      fieldMask: r.fieldMask?.paths ?? [],
      skipHumanReview: r.skipHumanReview ?? false,
      imagelessMode: r.imagelessMode ?? false,
      metadata: Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, typeof v === 'string' ? v : v.toString('base64')])),
    };
    const index = recorder.record(recorded);

    // The service's own checks, before any OCR.
    if (recorded.name !== processor) return { error: { code: grpc.status.NOT_FOUND, message: `Processor ${recorded.name} not found.` } };
    if (!r.rawDocument) return { error: { code: grpc.status.INVALID_ARGUMENT, message: 'Request contains an invalid argument: no document.' } };
    if (!SUPPORTED_MIME.has(recorded.mimeType)) return { error: { code: grpc.status.INVALID_ARGUMENT, message: `Unsupported input file format: ${recorded.mimeType}.` } };
    if (recorded.content.length > maxBytes) {
      return { error: { code: grpc.status.INVALID_ARGUMENT, message: `Document size (${recorded.content.length}) exceeds the limit: ${maxBytes}.` } };
    }
    const file = join(work, `request-${++sequence}`);
    await writeFile(file, recorded.content);
    try {
      if (recorded.mimeType === 'application/pdf') {
        const pages = await pdfPages(file);
        if (pages === 'encrypted') return { error: { code: grpc.status.INVALID_ARGUMENT, message: 'Document is password protected.' } };
        if (pages === 'corrupt') return { error: { code: grpc.status.INVALID_ARGUMENT, message: 'Unable to process the document: the file is corrupted.' } };
        const limit = recorded.imagelessMode ? Math.max(pageLimit, 30) : pageLimit;
        if (pages > limit) {
          return { error: { code: grpc.status.INVALID_ARGUMENT, message: `Document pages in non-imageless mode exceed the limit: ${limit} got ${pages}. Try using imageless mode to increase the limit to 30.` } };
        }
      }
      const reply = await respond(recorded, index);
      if ('hang' in reply) return 'hang';
      if ('error' in reply) return reply;
      return { document: buildDocument(reply.pages, recorded.pageSelection) };
    } finally {
      await rm(file, { force: true });
    }
  };

  const server = new grpc.Server();
  server.addService(service, { ProcessDocument: processDocument });
  const port = await bindLoopback(server);
  return {
    endpoint: `127.0.0.1:${port}`,
    port,
    requests,
    get cancelled() {
      return cancelled;
    },
    get respond() {
      return respond;
    },
    set respond(next: Responder) {
      respond = next;
    },
    waitForRequests: (count) => recorder.waitFor(count),
    async close() {
      await shutdownWithin(server);
      await rm(work, { recursive: true, force: true });
    },
  };
}

function isService(def: protoLoader.AnyDefinition | undefined): def is protoLoader.ServiceDefinition {
  return def !== undefined && !('format' in def) && 'ProcessDocument' in def;
}

/**
 * The page count the service would see, read with poppler's pdfinfo: a parser independent of the
 * pdf-lib the engine splits with, so a chunk it wrote wrongly is not taken on its own word.
 */
async function pdfPages(file: string): Promise<number | 'encrypted' | 'corrupt'> {
  const r = await runProcess('pdfinfo', [file], { timeoutMs: 30_000 });
  if (/incorrect password/i.test(r.stderr)) return 'encrypted';
  const n = Number.parseInt(/^Pages:\s+(\d+)/m.exec(r.stdout)?.[1] ?? '', 10);
  return r.code === 0 && n > 0 ? n : 'corrupt';
}

/** Canned pages for every request. */
export function respondWithPages(pages: readonly FakePage[]): Responder {
  return () => ({ pages });
}

/** The same gRPC error for every request. */
export function respondWithError(code: grpc.status, message: string): Responder {
  return () => ({ error: { code, message } });
}

/** Never answers (until the client cancels or the server closes). */
export const respondNever: Responder = () => ({ hang: true });

/**
 * Text made from the input itself: pdftotext per page for PDFs, tesseract for images (all pages
 * of a multi-page TIFF). Detected languages come from franc; orientation is always PAGE_UP.
 */
export const textFromInput: Responder = async (request) => {
  const dir = await mkdtemp(join(tmpdir(), 'fake-documentai-ocr-'));
  try {
    const file = join(dir, 'input');
    await writeFile(file, request.content);
    const r =
      request.mimeType === 'application/pdf'
        ? await runProcess('pdftotext', ['-enc', 'UTF-8', file, '-'], { timeoutMs: 60_000 })
        : await runProcess('tesseract', [file, '-', '--psm', '1'], { timeoutMs: 120_000, env: { OMP_THREAD_LIMIT: '1' } });
    if (r.code !== 0) return { error: { code: grpc.status.INVALID_ARGUMENT, message: `Unable to process the document: ${r.stderr.trim().split('\n').at(-1) ?? ''}` } };
    // Both tools end every page with a form feed.
    const texts = r.stdout.split('\f');
    if (texts.length > 1 && texts.at(-1)?.trim() === '') texts.pop();
    return {
      pages: texts.map((text) => {
        const language = BCP47[detectLanguage(text)];
        return { text, ...(language ? { languages: [{ code: language, confidence: 0.9 }] } : {}) };
      }),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

const BCP47: Readonly<Record<string, string>> = { eng: 'en', deu: 'de', fra: 'fr', spa: 'es', ita: 'it', nld: 'nl' };

/**
 * A Document as the service returns it: `text` holds every page's text, each ending in a newline;
 * each page's layout anchors its text with int64 code-point offsets (as decimal strings), one
 * segment per paragraph. With a page selection, only those pages are returned, numbered as in the
 * original document.
 */
export function buildDocument(pages: readonly FakePage[], selection?: readonly number[]): IDocument {
  const chosen = selection && selection.length > 0 ? selection.map((n) => ({ n, page: pages[n - 1] ?? { text: '' } })) : pages.map((page, i) => ({ n: i + 1, page }));
  let text = '';
  let at = 0; // in code points
  const out = chosen.map(({ n, page }) => {
    const body = page.text === '' || page.text.endsWith('\n') ? page.text : `${page.text}\n`;
    const segments = [];
    for (const paragraph of body.split(/(?<=\n\n)/)) {
      const length = [...paragraph].length;
      if (length === 0) continue;
      segments.push({ startIndex: String(at), endIndex: String(at + length) });
      at += length;
    }
    text += body;
    return {
      pageNumber: n,
      dimension: { width: 612, height: 792, unit: 'points' },
      layout: {
        textAnchor: { textSegments: segments },
        confidence: page.confidence ?? 0.95,
        orientation: page.orientation ?? 'PAGE_UP',
      },
      detectedLanguages: (page.languages ?? []).map((l) => ({ languageCode: l.code, confidence: l.confidence })),
    };
  });
  return { text, pages: out };
}
