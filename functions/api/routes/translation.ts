/**
 * Video translation: `GET /v1/documents/:id/translation?lang=&format=vtt|srt|json|mp4` returns a
 * translated recording's subtitles (WebVTT, SRT), the translated transcript (JSON with timings) or
 * (as a 303 to a short-lived signed URL: a video is never passed through the function) the dubbed
 * MP4, for its current version. Subtitles exist once the translate stage completed, the MP4 once
 * the dub stage did (409 NOT_READY before).
 */
import { TRANSLATION_CONTENT_TYPES, TranslationQuerySchema, TranslationRedirectSchema } from '../../../shared/api/translation.js';
import { HttpError, isRetryable } from '../../../shared/errors/index.js';
import { DOCUMENT_ID } from '../../../shared/ids.js';
import { dubRefsOf, translationRefsOf } from '../../../shared/stages/translation-ready.js';
import { idGroup, invalid, type ApiResponse, type Route, type RouteContext } from '../http.js';
import { signedDownload } from './documents-admin.js';

async function translationRoute({ req, caller, deps, params }: RouteContext): Promise<ApiResponse> {
  const parsed = TranslationQuerySchema.safeParse({ ...(req.query?.lang !== undefined ? { lang: req.query.lang } : {}), ...(req.query?.format !== undefined ? { format: req.query.format } : {}) });
  if (!parsed.success) throw invalid('translation query', parsed.error);
  const format = parsed.data.format ?? 'vtt';
  const documentId = params.id ?? '';
  const doc = await deps.documents.get(documentId);
  if (!doc || (await deps.projects.roleOf(doc.projectId, caller.uid)) === null) throw new HttpError(404, 'NOT_FOUND', 'no such document');
  const job = await deps.jobs.get(doc.jobId);
  if (!job || job.kind !== 'video.translate' || !job.input.translate) throw new HttpError(409, 'NOT_A_TRANSLATION', `document ${documentId} was not uploaded for translation (POST /v1/uploads with translate: {to})`);
  const asked = job.input.translate.to;
  if (parsed.data.lang !== undefined && parsed.data.lang.toLowerCase() !== asked.toLowerCase()) {
    throw new HttpError(404, 'NOT_FOUND', `document ${documentId} is translated into ${asked}, not ${parsed.data.lang}`, { languages: [asked] });
  }
  const translation = translationRefsOf(job);
  const dub = dubRefsOf(job);
  const ref = format === 'mp4' ? dub?.mp4 : translation?.[format];
  if (!ref) {
    const what = format === 'mp4' ? 'dubbed video' : 'translation';
    throw new HttpError(409, 'NOT_READY', `document ${documentId} has no ${what} yet (job ${job.id} is ${job.status}, stage ${job.stage})`, { status: job.status, stage: job.stage, jobId: job.id, ...(job.error ? { error: job.error.code } : {}) });
  }
  const name = `${doc.fileName.replace(/\.[^.]*$/, '')}.${asked}.${format}`.replace(/["\\\r\n]/g, '_');
  if (format === 'mp4') {
    // A dubbed video can be far larger than a function's response may be (32 MiB on Cloud Run):
    // it is never passed through. 303 sends the caller to a short-lived signed URL of the object
    // (GET /v1/documents/{id}/download?what=dub.mp4 gives the same URL as JSON).
    const signed = await signedDownload(deps, ref, name);
    return { status: 303, headers: { location: signed.url }, body: TranslationRedirectSchema.parse({ url: signed.url, method: 'GET', expiresAt: signed.expiresAt.toISOString(), fileName: name }) };
  }
  let body: Buffer;
  try {
    body = await deps.storage.read(ref);
  } catch (err) {
    if (isRetryable(err)) throw err;
    deps.log.error('translation file missing from storage', { documentId, ref, err });
    throw new HttpError(500, 'TRANSLATION_UNAVAILABLE', 'the translation of this document cannot be read; the error was logged');
  }
  return { status: 200, headers: { 'content-type': TRANSLATION_CONTENT_TYPES[format], 'content-disposition': `attachment; filename="${name}"` }, body };
}

export const translationRoutes: readonly Route[] = [
  {
    pattern: new RegExp(`^/v1/documents/${idGroup('id', DOCUMENT_ID)}/translation$`),
    path: '/v1/documents/{id}/translation',
    methods: { GET: translationRoute },
    docs: {
      GET: {
        summary: "A translated recording's subtitles (vtt, srt), translated transcript (json) or dubbed video (mp4)",
        tag: 'documents',
        query: TranslationQuerySchema,
        responseType: 'text/vtt',
        redirect: { description: 'format=mp4: the dubbed video is at a short-lived signed URL (Location)', response: TranslationRedirectSchema },
        errors: [409],
      },
    },
  },
];
