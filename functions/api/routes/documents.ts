/** Documents: the record, its versions, its text and a recording's transcript. */
import { z } from 'zod';
import { DOCUMENT_ID } from '../../../shared/ids.js';
import type { Caller } from '../../../shared/auth/index.js';
import { HttpError, isRetryable } from '../../../shared/errors/index.js';
import type { VersionRecord } from '../../../shared/firestore/documents.js';
import { textStageOf, transcriptRefsOf } from '../../../shared/stages/text-ready.js';
import { idGroup, json, jsonWithEtag, type ApiDeps, type ApiResponse, type Route, type RouteContext } from '../http.js';

const TRANSCRIPT_FORMATS = { txt: 'text/plain; charset=utf-8', json: 'application/json; charset=utf-8', srt: 'application/x-subrip; charset=utf-8', vtt: 'text/vtt; charset=utf-8' } as const;
type TranscriptFormatName = keyof typeof TRANSCRIPT_FORMATS;

/**
 * `GET /v1/documents/:id/transcript?format=txt|json|srt|vtt`: a recording's transcript (its current
 * version's), as plain text, JSON with segment and word timings, SRT or WebVTT.
 */
async function transcriptRoute(documentId: string, format: string, caller: Caller, deps: ApiDeps): Promise<ApiResponse> {
  if (!(format in TRANSCRIPT_FORMATS)) throw new HttpError(400, 'INVALID_ARGUMENT', `format must be one of ${Object.keys(TRANSCRIPT_FORMATS).join(', ')}`, { format: ['unknown format'] });
  const doc = await deps.documents.get(documentId);
  if (!doc || (await deps.projects.roleOf(doc.projectId, caller.uid)) === null) throw new HttpError(404, 'NOT_FOUND', 'no such document');
  const job = await deps.jobs.get(doc.jobId);
  if (!job || (job.kind !== 'speech.transcribe' && job.kind !== 'video.translate')) throw new HttpError(409, 'NOT_A_RECORDING', `document ${documentId} is not a recording: it has text, not a transcript (GET /v1/documents/${documentId}/text)`);
  const refs = transcriptRefsOf(job);
  const text = textStageOf(job)?.result?.text;
  if (!refs || !text) throw new HttpError(409, 'NOT_READY', `document ${documentId} has no transcript yet (status ${doc.status})`, { status: doc.status, jobId: job.id });
  const name = format as TranscriptFormatName;
  const ref = name === 'txt' ? text : refs[name];
  let body: Buffer;
  try {
    body = await deps.storage.read(ref);
  } catch (err) {
    if (isRetryable(err)) throw err;
    deps.log.error('transcript missing from storage', { documentId, ref, err });
    throw new HttpError(500, 'TRANSCRIPT_UNAVAILABLE', 'the transcript of this document cannot be read; the error was logged');
  }
  return { status: 200, headers: { 'content-type': TRANSCRIPT_FORMATS[name] }, body };
}

type DocumentView = 'record' | 'versions' | 'text';

/** `GET /v1/documents/:id[/versions[/:n]][/text]`: one handler, the view chosen by the route. */
function documentRoute(view: DocumentView) {
  return async ({ caller, deps, params }: RouteContext): Promise<ApiResponse> => {
    const doc = await deps.documents.get(params.id ?? '');
    if (!doc || (await deps.projects.roleOf(doc.projectId, caller.uid)) === null) throw new HttpError(404, 'NOT_FOUND', 'no such document');
    if (view === 'versions') {
      const versions = await deps.documents.listVersions(doc.id);
      return json(200, { documentId: doc.id, currentVersion: doc.currentVersion, latestVersion: doc.latestVersion, versions });
    }
    let record: Pick<VersionRecord, 'text' | 'status' | 'jobId'> & { readonly version?: number } = doc;
    if (params.version) {
      const version = await deps.documents.getVersion(doc.id, Number(params.version));
      if (!version) throw new HttpError(404, 'NOT_FOUND', `document ${doc.id} has no version ${params.version}`);
      if (view === 'record') return jsonWithEtag(version);
      record = version;
    } else if (view === 'record') {
      return jsonWithEtag(doc);
    }
    if (!record.text) throw new HttpError(409, 'NOT_READY', `document ${doc.id}${params.version ? ` version ${params.version}` : ''} has no text yet (status ${record.status})`, { status: record.status, jobId: record.jobId });
    let text: Buffer;
    try {
      text = await deps.storage.read(record.text);
    } catch (err) {
      if (isRetryable(err)) throw err;
      // The record says the text exists and the store says it does not: our fault, not the caller's.
      // Where it was looked for is logged, never returned.
      deps.log.error('extracted text missing from storage', { documentId: doc.id, text: record.text, err });
      throw new HttpError(500, 'TEXT_UNAVAILABLE', 'the extracted text of this document cannot be read; the error was logged');
    }
    return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: text };
  };
}

const DOC = idGroup('id', DOCUMENT_ID);
const VERSION = '(?<version>[1-9][0-9]{0,5})';
const TAG = 'documents';

const TranscriptQuerySchema = z.object({ format: z.enum(Object.keys(TRANSCRIPT_FORMATS) as [TranscriptFormatName, ...TranscriptFormatName[]]).optional().describe('txt (default), json with segment and word timings, srt or vtt') });
const VersionListSchema = z.object({ documentId: z.string(), currentVersion: z.number().int(), latestVersion: z.number().int(), versions: z.array(z.looseObject({ version: z.number().int(), status: z.string() })) });
const RecordSchema = z.looseObject({ id: z.string().optional(), projectId: z.string(), status: z.string() }).describe('The document (or version) record as stored');

export const documentRoutes: readonly Route[] = [
  {
    pattern: new RegExp(`^/v1/documents/${DOC}/transcript$`),
    path: '/v1/documents/{id}/transcript',
    methods: { GET: ({ req, caller, deps, params }) => transcriptRoute(params.id ?? '', req.query?.format ?? 'txt', caller, deps) },
    docs: { GET: { tag: TAG, summary: "A recording's transcript (current version) as text, JSON with timings, SRT or WebVTT", query: TranscriptQuerySchema, responseType: 'text/plain', errors: [409] } },
  },
  {
    pattern: new RegExp(`^/v1/documents/${DOC}$`),
    path: '/v1/documents/{id}',
    methods: { GET: documentRoute('record') },
    docs: { GET: { tag: TAG, summary: 'A document: status, current version, source, language, summary', response: RecordSchema } },
  },
  {
    pattern: new RegExp(`^/v1/documents/${DOC}/text$`),
    path: '/v1/documents/{id}/text',
    methods: { GET: documentRoute('text') },
    docs: { GET: { tag: TAG, summary: "The extracted text of the document's current version", responseType: 'text/plain', errors: [409] } },
  },
  {
    pattern: new RegExp(`^/v1/documents/${DOC}/versions$`),
    path: '/v1/documents/{id}/versions',
    methods: { GET: documentRoute('versions') },
    docs: { GET: { tag: TAG, summary: "The document's versions", response: VersionListSchema } },
  },
  {
    pattern: new RegExp(`^/v1/documents/${DOC}/versions/${VERSION}$`),
    path: '/v1/documents/{id}/versions/{version}',
    methods: { GET: documentRoute('record') },
    docs: { GET: { tag: TAG, summary: 'One version of the document', response: RecordSchema } },
  },
  {
    pattern: new RegExp(`^/v1/documents/${DOC}/versions/${VERSION}/text$`),
    path: '/v1/documents/{id}/versions/{version}/text',
    methods: { GET: documentRoute('text') },
    docs: { GET: { tag: TAG, summary: 'The extracted text of one version', responseType: 'text/plain', errors: [409] } },
  },
];
