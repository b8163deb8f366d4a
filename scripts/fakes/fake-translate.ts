/**
 * A local Cloud Translation: a real gRPC server speaking `google.cloud.translation.v3.TranslationService`
 * from the protos `@google-cloud/translate` ships (their `google/api` imports from google-gax's
 * copies), so the real client library talks to it over HTTP/2 exactly as to Google. `TranslateText`
 * is implemented; other methods answer UNIMPLEMENTED.
 *
 * It records every request and checks what the service checks: `parent` is `projects/P` or
 * `projects/P/locations/L`, `contents` is not empty and has at most 1,024 texts, the target
 * language is set and is one it knows (else INVALID_ARGUMENT "Target language is invalid."), the
 * source language likewise ("Source language is invalid."), `mimeType` is text/plain or text/html.
 * Translations are real: Apertium translates the pairs installed here (en↔es and others), and the
 * answer carries `model` and, without a source language, `detectedLanguageCode` (`en`), as the
 * service's do. Tests can instead answer with an error or never.
 */

import * as grpc from '@grpc/grpc-js';
import { z } from 'zod';

import { createLocalTranslationEngine } from '../../shared/engines/translate/local.js';
import { bindLoopback, loadClientProto, shutdownWithin, statusError } from './grpc.js';

const PROTO_FILE = 'google/cloud/translate/v3/translation_service.proto';
const SERVICE = 'google.cloud.translation.v3.TranslationService';

/** Languages the fake accepts (a subset of Google's list). */
export const FAKE_LANGUAGES = ['en', 'es', 'ca', 'gl', 'pt', 'fr', 'de', 'it', 'ja', 'zh-CN'];

export interface RecordedTranslate {
  readonly parent: string;
  readonly contents: readonly string[];
  readonly mimeType: string;
  readonly sourceLanguageCode: string;
  readonly targetLanguageCode: string;
  readonly model: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export type FakeReply = { readonly translate: true } | { readonly error: { readonly code: grpc.status; readonly message: string } } | { readonly hang: true } | { readonly translations: readonly string[] };
export type Responder = (request: RecordedTranslate, index: number) => FakeReply | Promise<FakeReply>;

export interface FakeTranslate {
  readonly endpoint: string;
  readonly requests: readonly RecordedTranslate[];
  readonly cancelled: number;
  respond: Responder;
  close(): Promise<void>;
}

export const respondWithTranslation: Responder = () => ({ translate: true });
export function respondWithError(code: grpc.status, message: string): Responder {
  return () => ({ error: { code, message } });
}

const RequestSchema = z.object({
  contents: z.array(z.string()),
  mimeType: z.string(),
  sourceLanguageCode: z.string(),
  targetLanguageCode: z.string(),
  parent: z.string(),
  model: z.string(),
});

export async function startFakeTranslate(options: { respond?: Responder } = {}): Promise<FakeTranslate> {
  const requests: RecordedTranslate[] = [];
  let cancelled = 0;
  let respond: Responder = options.respond ?? respondWithTranslation;
  const apertium = createLocalTranslationEngine();
  const definition = loadClientProto('@google-cloud/translate', PROTO_FILE);
  const service = definition[SERVICE];
  if (!service || 'format' in service || !('TranslateText' in service)) throw new Error(`${SERVICE} not found in ${PROTO_FILE}`);

  const known = (tag: string): boolean => FAKE_LANGUAGES.some((l) => l.toLowerCase() === tag.toLowerCase() || l.split('-')[0] === tag.toLowerCase().split('-')[0]);

  const translateText = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    let answered = false;
    call.on('cancelled', () => {
      if (!answered) cancelled++;
    });
    const answer = (err: grpc.ServerErrorResponse | null, value?: unknown): void => {
      if (answered || call.cancelled) return;
      answered = true;
      callback(err, value);
    };
    const handle = async (): Promise<void> => {
      const parsed = RequestSchema.safeParse(call.request);
      if (!parsed.success) return answer(statusError(grpc.status.INVALID_ARGUMENT, 'Request contains an invalid argument.'));
      const r: RecordedTranslate = { ...parsed.data, metadata: Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, typeof v === 'string' ? v : v.toString('base64')])) };
      const index = requests.length;
      requests.push(r);
      if (!/^projects\/[^/]+(?:\/locations\/[^/]+)?$/.test(r.parent)) return answer(statusError(grpc.status.INVALID_ARGUMENT, `Invalid resource name: ${r.parent}`));
      if (r.contents.length === 0) return answer(statusError(grpc.status.INVALID_ARGUMENT, 'Empty contents.'));
      if (r.contents.length > 1024) return answer(statusError(grpc.status.INVALID_ARGUMENT, 'Number of text segments exceeds the limit of 1024.'));
      if (r.mimeType !== '' && r.mimeType !== 'text/plain' && r.mimeType !== 'text/html') return answer(statusError(grpc.status.INVALID_ARGUMENT, `Unsupported mime type: ${r.mimeType}`));
      if (!r.targetLanguageCode || !known(r.targetLanguageCode)) return answer(statusError(grpc.status.INVALID_ARGUMENT, 'Target language is invalid.'));
      if (r.sourceLanguageCode && !known(r.sourceLanguageCode)) return answer(statusError(grpc.status.INVALID_ARGUMENT, 'Source language is invalid.'));
      const reply = await respond(r, index);
      if ('hang' in reply) return;
      if ('error' in reply) return answer(statusError(reply.error.code, reply.error.message));
      const model = r.model || `${r.parent}/models/general/nmt`;
      const from = r.sourceLanguageCode || 'en';
      let texts: readonly string[];
      if ('translations' in reply) texts = reply.translations;
      else if ((await apertium.supports({ from, to: r.targetLanguageCode })) === true) texts = (await apertium.translate(r.contents, { from, to: r.targetLanguageCode })).texts;
      else texts = r.contents.map((c) => `[${r.targetLanguageCode}] ${c}`);
      answer(null, { translations: texts.map((t) => ({ translatedText: t, model, ...(r.sourceLanguageCode ? {} : { detectedLanguageCode: from }) })) });
    };
    handle().catch((err: unknown) => answer(statusError(grpc.status.INTERNAL, `fake Translation failed: ${err instanceof Error ? err.message : String(err)}`)));
  };

  const server = new grpc.Server();
  server.addService(service, { TranslateText: translateText });
  const port = await bindLoopback(server);
  return {
    endpoint: `127.0.0.1:${port}`,
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
    close: () => shutdownWithin(server),
  };
}
