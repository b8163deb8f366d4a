/**
 * Documents, the resource side: list (filters, sort, cursor pages), delete (resumable, audited) and
 * short-lived signed download URLs for the original and the derived files.
 */
import { FieldPath, Timestamp, type Query } from '@google-cloud/firestore';
import { AUDIT_COLLECTION } from '../../../shared/audit.js';
import { DeleteDocumentResponseSchema, DownloadQuerySchema, DownloadResponseSchema, ListDocumentsQuerySchema, ListDocumentsResponseSchema, type Downloadable } from '../../../shared/api/documents-admin.js';
import { decodeCursor, encodeCursor, queryKey } from '../../../shared/api/pagination.js';
import { HttpError } from '../../../shared/errors/index.js';
import type { StoredObject } from '../../../shared/firestore/documents.js';
import { COLLECTIONS } from '../../../shared/firestore/paths.js';
import { DOCUMENT_ID } from '../../../shared/ids.js';
import { textStageOf, transcriptRefsOf } from '../../../shared/stages/text-ready.js';
import { dubRefsOf, translationRefsOf } from '../../../shared/stages/translation-ready.js';
import { checkIfMatch, idGroup, invalid, json, projectRole, type ApiDeps, type ApiResponse, type Route, type RouteContext } from '../http.js';
import type { SignedDownload } from '../../../shared/storage/index.js';
import { deleteDocumentFully, deletionAuditId } from './document-deletion.js';

/** Download URLs are bearer credentials: short-lived (and never longer than upload URLs). */
export const DOWNLOAD_TTL_SECONDS = 300;

async function listDocuments({ req, caller, deps }: RouteContext): Promise<ApiResponse> {
  const parsed = ListDocumentsQuerySchema.safeParse(req.query ?? {});
  if (!parsed.success) throw invalid('query', parsed.error);
  const { projectId, status, contentType, q, limit, pageToken } = parsed.data;
  const sort = parsed.data.sort ?? (q ? 'fileName' : '-createdAt');
  if (q && sort !== 'fileName') throw new HttpError(400, 'INVALID_ARGUMENT', 'q (a file-name prefix) sorts by fileName: use sort=fileName or leave sort out', { sort: ['must be fileName with q'] });
  await projectRole(deps, caller, projectId);

  let query: Query = deps.db.collection(COLLECTIONS.documents).where('projectId', '==', projectId);
  if (status) query = query.where('status', '==', status);
  if (contentType) query = query.where('contentType', '==', contentType);
  if (q) query = query.where('fileName', '>=', q).where('fileName', '<', `${q}\uf8ff`);
  const field = sort === 'fileName' ? 'fileName' : 'createdAt';
  const direction = sort === '-createdAt' ? 'desc' : 'asc';
  query = query.orderBy(field, direction).orderBy(FieldPath.documentId(), direction);

  const key = queryKey({ list: 'documents', projectId, status, contentType, q, sort });
  if (pageToken) {
    // createdAt is kept exact (seconds and nanoseconds): an ISO string would lose the microseconds.
    const v = decodeCursor(pageToken, key, field === 'createdAt' ? 3 : 2);
    const id = v.at(-1);
    if (typeof id !== 'string' || !DOCUMENT_ID.test(id)) throw new HttpError(400, 'INVALID_PAGE_TOKEN', 'pageToken is not one this endpoint returned');
    if (field === 'createdAt') {
      const [s, n] = v;
      if (typeof s !== 'number' || typeof n !== 'number') throw new HttpError(400, 'INVALID_PAGE_TOKEN', 'pageToken is not one this endpoint returned');
      query = query.startAfter(new Timestamp(s, n), id);
    } else {
      if (typeof v[0] !== 'string') throw new HttpError(400, 'INVALID_PAGE_TOKEN', 'pageToken is not one this endpoint returned');
      query = query.startAfter(v[0], id);
    }
  }
  const snap = await query.limit(limit + 1).get();
  const page = snap.docs.slice(0, limit);
  const last = page.at(-1);
  let nextPageToken: string | null = null;
  if (snap.docs.length > limit && last) {
    const ts = last.get('createdAt') as unknown;
    nextPageToken = field === 'createdAt' && ts instanceof Timestamp ? encodeCursor(key, [ts.seconds, ts.nanoseconds, last.id]) : encodeCursor(key, [String(last.get('fileName')), last.id]);
  }
  // A document being deleted is still listed until its record goes (its `deletion` marker is not part of the contract).
  const documents = page.map((d) => deps.documents.parse(d)).filter((d) => d !== null);
  return json(200, ListDocumentsResponseSchema.parse({ documents, nextPageToken }));
}

async function deleteDocument({ req, caller, deps, params, requestId }: RouteContext): Promise<ApiResponse> {
  const id = params.id ?? '';
  const doc = await deps.documents.get(id);
  if (!doc) {
    // Already deleted? Its audit entry says which project it was in: members get the same answer again.
    const entry = await deps.db.collection(AUDIT_COLLECTION).doc(deletionAuditId(id)).get();
    const projectId = entry.get('projectId') as unknown;
    if (entry.exists && typeof projectId === 'string' && (await deps.projects.roleOf(projectId, caller.uid)) !== null) {
      return json(200, DeleteDocumentResponseSchema.parse({ documentId: id, alreadyDeleted: true, deleted: null }));
    }
    throw new HttpError(404, 'NOT_FOUND', 'no such document');
  }
  const role = await deps.projects.roleOf(doc.projectId, caller.uid);
  if (role === null) throw new HttpError(404, 'NOT_FOUND', 'no such document');
  // Admins delete anything in their project; editors what they uploaded; viewers nothing.
  if (role === 'viewer' || (role === 'editor' && doc.ownerUid !== caller.uid)) throw new HttpError(403, 'PERMISSION_DENIED', role === 'viewer' ? 'viewers may not delete documents' : 'editors may delete only documents they uploaded');
  checkIfMatch(req, doc);
  const counts = await deleteDocumentFully(deps, id, caller, requestId);
  return json(200, DeleteDocumentResponseSchema.parse({ documentId: id, alreadyDeleted: counts === null, deleted: counts }));
}

/** `attachment` with an ASCII fallback name and the real one in RFC 8187 form. */
function attachment(fileName: string): string {
  const ascii = fileName.normalize('NFKD').replace(/\p{M}/gu, '').replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

/** A short-lived signed GET of one stored file, offered as an attachment named `fileName` (the download route's, and the dub's 303). */
export function signedDownload(deps: ApiDeps, ref: Pick<StoredObject, 'bucket' | 'object' | 'generation'>, fileName: string): Promise<SignedDownload> {
  const ttlSeconds = Math.min(DOWNLOAD_TTL_SECONDS, deps.config.SCRIPTORIUM_SIGNED_URL_TTL_SECONDS);
  return deps.storage.signDownload({ bucket: ref.bucket, object: ref.object, ttlSeconds, now: deps.now?.() ?? new Date(), generation: ref.generation, responseContentDisposition: attachment(fileName) });
}

function baseName(fileName: string): string {
  return fileName.replace(/\.[^.]+$/, '') || fileName;
}

async function downloadDocument({ req, caller, deps, params }: RouteContext): Promise<ApiResponse> {
  const id = params.id ?? '';
  const parsed = DownloadQuerySchema.safeParse(req.query ?? {});
  if (!parsed.success) throw invalid('query', parsed.error);
  const { what } = parsed.data;
  const doc = await deps.documents.get(id);
  if (!doc || (await deps.projects.roleOf(doc.projectId, caller.uid)) === null) throw new HttpError(404, 'NOT_FOUND', 'no such document');
  const versionNo = parsed.data.version ?? doc.currentVersion;
  const record = versionNo === doc.currentVersion ? doc : await deps.documents.getVersion(id, versionNo);
  if (!record) throw new HttpError(404, 'NOT_FOUND', `document ${id} has no version ${versionNo}`);

  let ref: Pick<StoredObject, 'bucket' | 'object' | 'generation'> | null = null;
  let fileName = record.fileName;
  const notReady = (): HttpError => new HttpError(409, 'NOT_READY', `document ${id} version ${versionNo} has no ${what} yet (status ${record.status})`, { status: record.status, jobId: record.jobId });
  if (what === 'original') {
    if (!record.source.generation) throw notReady();
    ref = record.source;
  } else if (what === 'text') {
    ref = record.text;
    fileName = `${baseName(record.fileName)}.txt`;
  } else if (what.startsWith('translation.') || what === 'dub.mp4') {
    const job = await deps.jobs.get(record.jobId);
    if (!job || job.kind !== 'video.translate' || !job.input.translate) throw new HttpError(409, 'NOT_A_TRANSLATION', `document ${id} version ${versionNo} was not uploaded for translation`);
    const format = what.slice(what.indexOf('.') + 1) as 'vtt' | 'srt' | 'json' | 'mp4';
    ref = format === 'mp4' ? (dubRefsOf(job)?.mp4 ?? null) : (translationRefsOf(job)?.[format] ?? null);
    fileName = `${baseName(record.fileName)}.${job.input.translate.to}.${format}`;
  } else {
    const job = await deps.jobs.get(record.jobId);
    if (!job || (job.kind !== 'speech.transcribe' && job.kind !== 'video.translate')) throw new HttpError(409, 'NOT_A_RECORDING', `document ${id} is not a recording: it has no transcript`);
    const format = what.slice('transcript.'.length) as 'txt' | 'json' | 'srt' | 'vtt';
    const refs = transcriptRefsOf(job);
    ref = format === 'txt' ? (textStageOf(job)?.result?.text ?? null) : (refs?.[format] ?? null);
    fileName = `${baseName(record.fileName)}.${format}`;
  }
  if (!ref) throw notReady();
  const signed = await signedDownload(deps, ref, fileName);
  const body = DownloadResponseSchema.parse({ url: signed.url, method: 'GET', expiresAt: signed.expiresAt.toISOString(), fileName, what: what satisfies Downloadable, version: versionNo });
  return json(200, body);
}

const DOC = idGroup('id', DOCUMENT_ID);
const TAG = 'documents';

export const documentAdminRoutes: readonly Route[] = [
  {
    pattern: /^\/v1\/documents$/,
    path: '/v1/documents',
    methods: { GET: listDocuments },
    docs: { GET: { summary: "List a project's documents (filters, sort, cursor pages)", tag: TAG, query: ListDocumentsQuerySchema, response: ListDocumentsResponseSchema } },
  },
  {
    pattern: new RegExp(`^/v1/documents/${DOC}/download$`),
    path: '/v1/documents/{id}/download',
    methods: { GET: downloadDocument },
    docs: { GET: { summary: 'A short-lived signed GET URL for the original or a derived file', tag: TAG, query: DownloadQuerySchema, response: DownloadResponseSchema, errors: [409] } },
  },
  {
    // Only DELETE here: GET of the same path stays with the documents module (listed after this one).
    pattern: new RegExp(`^/v1/documents/${DOC}$`),
    path: '/v1/documents/{id}',
    methods: { DELETE: deleteDocument },
    docs: { DELETE: { summary: 'Delete a document: objects, chunks, versions and record (resumable; audited). Editors: their own; admins: any', tag: TAG, response: DeleteDocumentResponseSchema, errors: [412] } },
  },
];
