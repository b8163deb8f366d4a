import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkTerraform, findTerraformDir, terraformFmtCheck } from '../../shared/topology-terraform.js';

const terraformDir = findTerraformDir();

/** Replaces the first occurrence of `from`, failing loudly if terraform no longer contains it. */
function replaceIn(dir: string, file: string, from: string, to: string): void {
  const p = path.join(dir, file);
  const text = readFileSync(p, 'utf8');
  assert.ok(text.includes(from), `${file} no longer contains ${JSON.stringify(from)}: update this test`);
  writeFileSync(p, text.replace(from, to));
}

/** Sets the default of `variable "name"` in variables.tf (the first `default = ...` line after it). */
function setVariableDefault(dir: string, name: string, value: string): void {
  const p = path.join(dir, 'variables.tf');
  const text = readFileSync(p, 'utf8');
  const start = text.indexOf(`variable "${name}" {`);
  assert.ok(start >= 0, `variables.tf has no variable ${name}: update this test`);
  const m = /\n(\s*default\s*=\s*)[^\n]*/.exec(text.slice(start));
  assert.ok(m, `variable ${name} has no default: update this test`);
  const at = start + m.index;
  writeFileSync(p, `${text.slice(0, at)}\n${m[1] ?? ''}${value}${text.slice(at + m[0].length)}`);
}

/** Deletes one `resource "type" "name" { ... }` block (braces matched, strings ignored). */
function removeResource(dir: string, file: string, type: string, name: string): void {
  const p = path.join(dir, file);
  const text = readFileSync(p, 'utf8');
  const start = text.indexOf(`resource "${type}" "${name}" {`);
  assert.ok(start >= 0, `${file} has no resource ${type}.${name}: update this test`);
  let depth = 0;
  let inString = false;
  for (let i = text.indexOf('{', start); i < text.length; i++) {
    const c = text[i];
    if (c === '"' && text[i - 1] !== '\\') inString = !inString;
    if (inString) continue;
    if (c === '{') depth++;
    if (c === '}' && --depth === 0) {
      writeFileSync(p, text.slice(0, start) + text.slice(i + 1));
      return;
    }
  }
  assert.fail(`unbalanced braces in ${file}`);
}

void describe('terraform/', () => {
  void it('declares exactly what shared/topology.ts declares', async () => {
    assert.deepEqual(await checkTerraform(terraformDir), []);
  });

  void it('is terraform fmt clean', (t) => {
    const fmt = terraformFmtCheck(terraformDir);
    if (!fmt.available) {
      t.skip('terraform is not installed');
      return;
    }
    assert.ok(fmt.ok, `terraform fmt -check failed:\n${fmt.output}`);
  });
});

void describe('checkTerraform', () => {
  let scratch: string;
  before(() => {
    scratch = mkdtempSync(path.join(tmpdir(), 'scriptorium-tf-'));
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  /** A fresh copy of terraform/ (sources only) to mutate. */
  function copy(label: string): string {
    const dir = path.join(scratch, label.replace(/[^a-z0-9]+/gi, '-'));
    cpSync(terraformDir, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}.terraform`) });
    return dir;
  }

  const p = '${var.project_id}';
  const cases: { name: string; mutate: (dir: string) => void; expected: string[] }[] = [
    {
      name: 'a changed ack deadline',
      mutate: (d) => replaceIn(d, 'pubsub.tf', 'ack_deadline_seconds       = 600', 'ack_deadline_seconds       = 60'),
      expected: ['subscription ocr-ocr-requests: ack_deadline_seconds 60 in terraform, 600 in topology'],
    },
    {
      name: 'a dropped subscription',
      mutate: (d) => removeResource(d, 'pubsub.tf', 'google_pubsub_subscription', 'dead_letter_archive'),
      expected: ['subscription dead-letter-archive: missing in terraform'],
    },
    {
      name: 'a renamed entry point',
      mutate: (d) => replaceIn(d, 'functions.tf', 'entry_point     = "deadLetter"', 'entry_point     = "dead_letter"'),
      expected: ['function dead-letter: entry_point dead_letter in terraform, deadLetter in topology'],
    },
    {
      name: 'an extra topic',
      mutate: (d) => writeFileSync(path.join(d, 'extra.tf'), 'resource "google_pubsub_topic" "thumbnails" {\n  name = "thumbnails"\n}\n'),
      expected: ['topic thumbnails: in terraform (google_pubsub_topic.thumbnails) but not in topology'],
    },
    {
      name: 'an environment variable ConfigSchema does not know',
      mutate: (d) => replaceIn(d, 'functions.tf', '    SCRIPTORIUM_LOG_LEVEL ', '    SCRIPTORIUM_OCR_TIMEOUT_SECONDS = 30\n    SCRIPTORIUM_LOG_LEVEL '),
      expected: ['functions.tf: SCRIPTORIUM_OCR_TIMEOUT_SECONDS is not a key of ConfigSchema (shared/config/index.ts)'],
    },
    {
      name: 'an emulator variable in production',
      mutate: (d) => replaceIn(d, 'functions.tf', '    SCRIPTORIUM_LOG_LEVEL ', '    FIRESTORE_EMULATOR_HOST = "127.0.0.1:8080"\n    SCRIPTORIUM_LOG_LEVEL '),
      expected: ['api', 'ingest', 'ocr', 'dead-letter', 'embed', 'summarize', 'transcribe', 'translate', 'dub', 'reaper'].map((f) => `function ${f}: sets FIRESTORE_EMULATOR_HOST, which would point production at an emulator`),
    },
    {
      name: 'a config value ConfigSchema rejects',
      mutate: (d) => replaceIn(d, 'variables.tf', 'default     = "INFO"', 'default     = "VERBOSE"'),
      expected: ['api', 'ingest', 'ocr', 'dead-letter', 'embed', 'summarize', 'transcribe', 'translate', 'dub', 'reaper'].map(
        (f) => `function ${f}: SCRIPTORIUM_LOG_LEVEL = "VERBOSE" is rejected by ConfigSchema (Invalid option: expected one of "DEBUG"|"INFO"|"WARNING"|"ERROR")`,
      ),
    },
    {
      name: 'an environment variable ConfigSchema does not know, in the ocr function only',
      mutate: (d) => replaceIn(d, 'functions.tf', '    SCRIPTORIUM_OCR_LANGUAGES ', '    SCRIPTORIUM_DOCUMENTAI_TIMEOUT_SECONDS = 30\n    SCRIPTORIUM_OCR_LANGUAGES '),
      expected: ['functions.tf: SCRIPTORIUM_DOCUMENTAI_TIMEOUT_SECONDS is not a key of ConfigSchema (shared/config/index.ts)'],
    },
    {
      name: 'an emulator variable in the ocr function only',
      mutate: (d) => replaceIn(d, 'functions.tf', '    SCRIPTORIUM_OCR_LANGUAGES ', '    PUBSUB_EMULATOR_HOST = "127.0.0.1:8085"\n    SCRIPTORIUM_OCR_LANGUAGES '),
      expected: ['function ocr: sets PUBSUB_EMULATOR_HOST, which would point production at an emulator'],
    },
    {
      name: 'an OCR engine ConfigSchema does not have',
      mutate: (d) => replaceIn(d, 'variables.tf', 'default     = "google"', 'default     = "tesseract"'),
      expected: ['function ocr: SCRIPTORIUM_OCR_ENGINE = "tesseract" is rejected by ConfigSchema (Invalid option: expected one of "local"|"google")'],
    },
    {
      name: 'the google engine without a processor',
      mutate: (d) => replaceIn(d, 'functions.tf', '    SCRIPTORIUM_DOCUMENTAI_PROCESSOR = var.ocr_engine == "google" ? google_document_ai_processor.ocr[0].id : ""\n', ''),
      expected: ['function ocr: SCRIPTORIUM_DOCUMENTAI_PROCESSOR is not set in terraform, but ConfigSchema requires it (required when SCRIPTORIUM_OCR_ENGINE is google)'],
    },
    {
      name: 'the google engine with a blank processor',
      mutate: (d) =>
        replaceIn(d, 'functions.tf', 'SCRIPTORIUM_DOCUMENTAI_PROCESSOR = var.ocr_engine == "google" ? google_document_ai_processor.ocr[0].id : ""', 'SCRIPTORIUM_DOCUMENTAI_PROCESSOR = ""'),
      expected: ['function ocr: SCRIPTORIUM_DOCUMENTAI_PROCESSOR = "" is rejected by ConfigSchema (required when SCRIPTORIUM_OCR_ENGINE is google)'],
    },
    {
      name: 'a processor literal ConfigSchema rejects',
      mutate: (d) =>
        replaceIn(d, 'functions.tf', 'SCRIPTORIUM_DOCUMENTAI_PROCESSOR = var.ocr_engine == "google" ? google_document_ai_processor.ocr[0].id : ""', 'SCRIPTORIUM_DOCUMENTAI_PROCESSOR = "0123456789abcdef"'),
      expected: [
        'function ocr: SCRIPTORIUM_DOCUMENTAI_PROCESSOR = "0123456789abcdef" is rejected by ConfigSchema (expected projects/{project}/locations/{location}/processors/{processor}[/processorVersions/{version}])',
      ],
    },
    {
      name: 'the processor referenced by its short name',
      mutate: (d) => replaceIn(d, 'functions.tf', 'google_document_ai_processor.ocr[0].id', 'google_document_ai_processor.ocr[0].name'),
      expected: [
        'function ocr: SCRIPTORIUM_DOCUMENTAI_PROCESSOR uses google_document_ai_processor.ocr.name; ConfigSchema needs the full resource name projects/P/locations/L/processors/ID, which is the processor\'s id attribute',
      ],
    },
    {
      name: 'a processor that is not an OCR processor',
      mutate: (d) => replaceIn(d, 'documentai.tf', 'type         = "OCR_PROCESSOR"', 'type         = "FORM_PARSER_PROCESSOR"'),
      expected: ['google_document_ai_processor.ocr: type FORM_PARSER_PROCESSOR, the google OCR engine needs OCR_PROCESSOR'],
    },
    {
      name: 'a dropped processor',
      mutate: (d) => removeResource(d, 'documentai.tf', 'google_document_ai_processor', 'ocr'),
      expected: ['function ocr: SCRIPTORIUM_DOCUMENTAI_PROCESSOR references google_document_ai_processor.ocr, which terraform does not declare'],
    },
    {
      name: 'a missing Document AI grant',
      mutate: (d) => removeResource(d, 'iam.tf', 'google_project_iam_member', 'ocr_documentai_user'),
      expected: [
        'function ocr: uses a Document AI processor, but its service account ${google_service_account.runtime["ocr"].email} is not granted roles/documentai.apiUser (every request would fail with PERMISSION_DENIED)',
      ],
    },
    {
      name: 'the Document AI grant given to another function',
      mutate: (d) => replaceIn(d, 'iam.tf', 'role    = "roles/documentai.apiUser"\n  member  = google_service_account.runtime["ocr"].member', 'role    = "roles/documentai.apiUser"\n  member  = google_service_account.runtime["api"].member'),
      expected: [
        'function ocr: uses a Document AI processor, but its service account ${google_service_account.runtime["ocr"].email} is not granted roles/documentai.apiUser (every request would fail with PERMISSION_DENIED)',
      ],
    },
    {
      name: 'the Document AI API left disabled',
      mutate: (d) => replaceIn(d, 'apis.tf', '["documentai.googleapis.com"]', '[]'),
      expected: ['function ocr: uses a Document AI processor, but terraform never enables documentai.googleapis.com'],
    },
    {
      name: 'an embedding engine ConfigSchema does not have',
      mutate: (d) => setVariableDefault(d, 'embedding_engine', '"openai"'),
      expected: [
        'function api: SCRIPTORIUM_EMBEDDING_ENGINE = "openai" is rejected by ConfigSchema (Invalid option: expected one of "local"|"google")',
        'function embed: SCRIPTORIUM_EMBEDDING_ENGINE = "openai" is rejected by ConfigSchema (Invalid option: expected one of "local"|"google")',
      ],
    },
    {
      name: 'a missing Vertex AI grant',
      mutate: (d) => removeResource(d, 'iam.tf', 'google_project_iam_member', 'embed_vertex_user'),
      expected: [
        'function embed: SCRIPTORIUM_EMBEDDING_ENGINE is google (Vertex AI embeddings), but its service account ${google_service_account.runtime["embed"].email} is not granted roles/aiplatform.user (every request would fail with PERMISSION_DENIED)',
      ],
    },
    {
      name: 'a missing Vertex AI grant for the api (it embeds search queries)',
      mutate: (d) => removeResource(d, 'iam.tf', 'google_project_iam_member', 'api_vertex_user'),
      expected: [
        'function api: SCRIPTORIUM_EMBEDDING_ENGINE is google (Vertex AI embeddings), but its service account ${google_service_account.runtime["api"].email} is not granted roles/aiplatform.user (every request would fail with PERMISSION_DENIED)',
      ],
    },
    {
      name: 'the Vertex AI grant given to another function',
      mutate: (d) =>
        replaceIn(d, 'iam.tf', 'role    = "roles/aiplatform.user"\n  member  = google_service_account.runtime["summarize"].member', 'role    = "roles/aiplatform.user"\n  member  = google_service_account.runtime["embed"].member'),
      expected: [
        'function summarize: SCRIPTORIUM_SUMMARY_ENGINE is google (Gemini on Vertex AI), but its service account ${google_service_account.runtime["summarize"].email} is not granted roles/aiplatform.user (every request would fail with PERMISSION_DENIED)',
      ],
    },
    {
      name: 'the Vertex AI API left disabled',
      mutate: (d) => replaceIn(d, 'apis.tf', '["aiplatform.googleapis.com"]', '[]'),
      expected: [
        'function api: SCRIPTORIUM_EMBEDDING_ENGINE is google (Vertex AI embeddings), but terraform never enables aiplatform.googleapis.com',
        'function embed: SCRIPTORIUM_EMBEDDING_ENGINE is google (Vertex AI embeddings), but terraform never enables aiplatform.googleapis.com',
        'function summarize: SCRIPTORIUM_SUMMARY_ENGINE is google (Gemini on Vertex AI), but terraform never enables aiplatform.googleapis.com',
      ],
    },
    {
      name: 'a speech-to-text engine ConfigSchema does not have',
      mutate: (d) => setVariableDefault(d, 'stt_engine', '"whisper"'),
      expected: ['function transcribe: SCRIPTORIUM_STT_ENGINE = "whisper" is rejected by ConfigSchema (Invalid option: expected one of "local"|"google")'],
    },
    {
      name: 'a speech-to-text model ConfigSchema rejects',
      mutate: (d) => setVariableDefault(d, 'stt_model', '"Chirp 2"'),
      expected: ['function transcribe: SCRIPTORIUM_STT_MODEL = "Chirp 2" is rejected by ConfigSchema (expected a model id such as long, short or chirp_2)'],
    },
    {
      name: 'a missing Speech-to-Text grant',
      mutate: (d) => removeResource(d, 'iam.tf', 'google_project_iam_member', 'transcribe_speech_client'),
      expected: [
        'function transcribe: SCRIPTORIUM_STT_ENGINE is google (Speech-to-Text v2), but its service account ${google_service_account.runtime["transcribe"].email} is not granted roles/speech.client (every request would fail with PERMISSION_DENIED)',
      ],
    },
    {
      name: 'the Speech-to-Text grant given to another function',
      mutate: (d) =>
        replaceIn(d, 'iam.tf', 'role    = "roles/speech.client"\n  member  = google_service_account.runtime["transcribe"].member', 'role    = "roles/speech.client"\n  member  = google_service_account.runtime["ingest"].member'),
      expected: [
        'function transcribe: SCRIPTORIUM_STT_ENGINE is google (Speech-to-Text v2), but its service account ${google_service_account.runtime["transcribe"].email} is not granted roles/speech.client (every request would fail with PERMISSION_DENIED)',
      ],
    },
    {
      name: 'the Speech-to-Text API left disabled',
      mutate: (d) => replaceIn(d, 'apis.tf', '["speech.googleapis.com"]', '[]'),
      expected: ['function transcribe: SCRIPTORIUM_STT_ENGINE is google (Speech-to-Text v2), but terraform never enables speech.googleapis.com'],
    },
    {
      name: 'a missing dead-letter grant on the transcribe subscription',
      mutate: (d) => removeResource(d, 'pubsub.tf', 'google_pubsub_subscription_iam_member', 'pubsub_agent_subscribes_transcribe_transcribe_requests'),
      expected: ['subscription transcribe-transcribe-requests: dead-lettering needs roles/pubsub.subscriber for the Pub/Sub service agent on this subscription; terraform grants none'],
    },
    {
      name: 'the transcribe function without its push invoker',
      mutate: (d) => removeResource(d, 'functions.tf', 'google_cloud_run_service_iam_member', 'transcribe_push_invoker'),
      expected: ['function transcribe: push identity ${google_service_account.push_invoker.email} of subscription transcribe-transcribe-requests is not granted roles/run.invoker on it'],
    },
    {
      name: 'an ocr environment built in a way the checker cannot follow',
      mutate: (d) => replaceIn(d, 'functions.tf', 'ocr_function_env = merge(local.function_env, local.ocr_env)', 'ocr_function_env = merge(local.function_env, local.ocr_env, { EXTRA = "1" })'),
      expected: [
        'function ocr: service_config.environment_variables ${local.ocr_function_env} is not a map literal, a local holding one or merge() of such locals, so it cannot be checked',
      ],
    },
    {
      name: 'a changed retry backoff',
      mutate: (d) => replaceIn(d, 'pubsub.tf', 'maximum_backoff = "600s"', 'maximum_backoff = "300s"'),
      expected: ['subscription ingest-object-events: retry_policy.maximum_backoff 300s in terraform, 600s in topology'],
    },
    {
      name: 'a changed retention',
      mutate: (d) => replaceIn(d, 'pubsub.tf', 'message_retention_duration = "604800s"', 'message_retention_duration = "86400s"'),
      expected: ['subscription ingest-object-events: message_retention_duration 86400s in terraform, 604800s in topology'],
    },
    {
      name: 'a changed dead-letter attempt count',
      mutate: (d) => replaceIn(d, 'pubsub.tf', 'max_delivery_attempts = 5', 'max_delivery_attempts = 10'),
      expected: ['subscription ingest-object-events: dead_letter_policy.max_delivery_attempts 10 in terraform, 5 in topology'],
    },
    {
      name: 'a dropped dead-letter policy',
      mutate: (d) =>
        replaceIn(
          d,
          'pubsub.tf',
          '  dead_letter_policy {\n    dead_letter_topic     = google_pubsub_topic.dead_letter.id\n    max_delivery_attempts = 5\n  }\n',
          '',
        ),
      expected: ['subscription ingest-object-events: dead_letter_policy missing in terraform, topology dead-letters to dead-letter after 5 attempts'],
    },
    {
      name: 'a missing dead-letter grant',
      mutate: (d) => removeResource(d, 'pubsub.tf', 'google_pubsub_subscription_iam_member', 'pubsub_agent_subscribes_ocr_ocr_requests'),
      expected: ['subscription ocr-ocr-requests: dead-lettering needs roles/pubsub.subscriber for the Pub/Sub service agent on this subscription; terraform grants none'],
    },
    {
      name: 'a push path naming the wrong topic',
      mutate: (d) => replaceIn(d, 'pubsub.tf', 'topics/${google_pubsub_topic.ocr_requests.name}', 'topics/${google_pubsub_topic.document_events.name}'),
      expected: [`subscription ocr-ocr-requests: push path /projects/${p}/topics/document-events in terraform, /projects/${p}/topics/ocr-requests in topology`],
    },
    {
      name: 'a push to the wrong function',
      mutate: (d) => replaceIn(d, 'pubsub.tf', 'push_endpoint = "${google_cloudfunctions2_function.ingest.', 'push_endpoint = "${google_cloudfunctions2_function.ocr.'),
      expected: ['subscription ingest-object-events: push target function ocr in terraform, ingest in topology'],
    },
    {
      name: 'a pull subscription turned into a push subscription',
      mutate: (d) =>
        replaceIn(
          d,
          'pubsub.tf',
          '  name                       = "document-events-archive"\n  topic                      = google_pubsub_topic.document_events.id\n',
          '  name                       = "document-events-archive"\n  topic                      = google_pubsub_topic.document_events.id\n\n  push_config {\n    push_endpoint = "https://example.com/"\n  }\n',
        ),
      expected: ['subscription document-events-archive: push_config in terraform, topology declares a pull subscription'],
    },
    {
      name: 'changed function memory',
      mutate: (d) => replaceIn(d, 'functions.tf', 'available_memory               = "256Mi"', 'available_memory               = "1Gi"'),
      expected: ['function dead-letter: available_memory 1Gi in terraform, 256 MB in topology'],
    },
    {
      name: 'a changed function timeout',
      mutate: (d) => replaceIn(d, 'functions.tf', 'timeout_seconds                = 540', 'timeout_seconds                = 300'),
      expected: ['function ocr: timeout_seconds 300 in terraform, 540 in topology'],
    },
    {
      name: 'an event function made public',
      mutate: (d) =>
        replaceIn(d, 'functions.tf', 'service  = google_cloudfunctions2_function.ingest.name\n  role     = "roles/run.invoker"\n  member   = google_service_account.push_invoker.member', 'service  = google_cloudfunctions2_function.ingest.name\n  role     = "roles/run.invoker"\n  member   = "allUsers"'),
      expected: [
        'function ingest: trigger pubsub but terraform makes it public (allUsers invoker); only the push identity may invoke it',
        'function ingest: push identity ${google_service_account.push_invoker.email} of subscription ingest-object-events is not granted roles/run.invoker on it',
      ],
    },
    {
      name: 'a scheduled function without its scheduler job',
      mutate: (d) => removeResource(d, 'scheduler.tf', 'google_cloud_scheduler_job', 'reaper'),
      expected: [
        'function reaper: trigger scheduled but no google_cloud_scheduler_job calls it (http_target.uri = ${google_cloudfunctions2_function.reaper.service_config[0].uri}); nothing would ever run it',
      ],
    },
    {
      name: 'a scheduled function made public',
      mutate: (d) =>
        replaceIn(d, 'functions.tf', 'service  = google_cloudfunctions2_function.reaper.name\n  role     = "roles/run.invoker"\n  member   = google_service_account.scheduler_invoker.member', 'service  = google_cloudfunctions2_function.reaper.name\n  role     = "roles/run.invoker"\n  member   = "allUsers"'),
      expected: [
        'function reaper: trigger scheduled but terraform makes it public (allUsers invoker); only the scheduler identity may invoke it',
        'function reaper: scheduler job google_cloud_scheduler_job.reaper: its identity ${google_service_account.scheduler_invoker.email} is not granted roles/run.invoker on the function',
      ],
    },
    {
      name: 'a scheduled function also given allAuthenticatedUsers',
      mutate: (d) =>
        writeFileSync(
          path.join(d, 'extra.tf'),
          'resource "google_cloudfunctions2_function_iam_member" "reaper_everyone" {\n  cloud_function = google_cloudfunctions2_function.reaper.name\n  role           = "roles/cloudfunctions.invoker"\n  member         = "allAuthenticatedUsers"\n}\n',
        ),
      expected: ['function reaper: trigger scheduled but terraform makes it public (allAuthenticatedUsers invoker); only the scheduler identity may invoke it'],
    },
    {
      name: 'a schedule other than the topology\'s',
      mutate: (d) => replaceIn(d, 'scheduler.tf', 'schedule    = "* * * * *"', 'schedule    = "*/5 * * * *"'),
      expected: ['function reaper: scheduler job google_cloud_scheduler_job.reaper: schedule */5 * * * * in terraform, * * * * * in topology'],
    },
    {
      name: 'a scheduler job without an OIDC token',
      mutate: (d) =>
        replaceIn(
          d,
          'scheduler.tf',
          /oidc_token \{[^}]*\}/.exec(readFileSync(path.join(d, 'scheduler.tf'), 'utf8'))?.[0] ?? 'oidc_token {',
          'headers = { "Content-Type" = "application/json" }',
        ),
      expected: ['function reaper: scheduler job google_cloud_scheduler_job.reaper: http_target has no oidc_token.service_account_email, so the private function would reject every call'],
    },
    {
      name: 'a scheduler identity without the invoker grant',
      mutate: (d) => removeResource(d, 'functions.tf', 'google_cloud_run_service_iam_member', 'reaper_scheduler_invoker'),
      expected: ['function reaper: scheduler job google_cloud_scheduler_job.reaper: its identity ${google_service_account.scheduler_invoker.email} is not granted roles/run.invoker on the function'],
    },
    {
      name: 'a scheduler job calling another function',
      mutate: (d) => replaceIn(d, 'scheduler.tf', 'uri         = google_cloudfunctions2_function.reaper.', 'uri         = google_cloudfunctions2_function.api.'),
      expected: [
        'function reaper: trigger scheduled but no google_cloud_scheduler_job calls it (http_target.uri = ${google_cloudfunctions2_function.reaper.service_config[0].uri}); nothing would ever run it',
        'scheduler job google_cloud_scheduler_job.reaper: calls function api, whose topology trigger is http, not scheduled',
      ],
    },
    {
      name: 'a scheduler token for another audience',
      mutate: (d) => replaceIn(d, 'scheduler.tf', 'audience = google_cloudfunctions2_function.reaper.', 'audience = google_cloudfunctions2_function.api.'),
      expected: [
        'function reaper: scheduler job google_cloud_scheduler_job.reaper: oidc_token.audience ${google_cloudfunctions2_function.api.service_config[0].uri} is not the function\'s URL (google_cloudfunctions2_function.reaper.service_config[0].uri); Cloud Run would reject the token',
      ],
    },
    {
      name: 'a scheduler job that GETs',
      mutate: (d) => replaceIn(d, 'scheduler.tf', 'http_method = "POST"', 'http_method = "GET"'),
      expected: ['function reaper: scheduler job google_cloud_scheduler_job.reaper: http_method GET, but the function answers only POST (405 otherwise)'],
    },
    {
      name: 'a scheduler attempt deadline shorter than the function timeout',
      mutate: (d) => replaceIn(d, 'scheduler.tf', 'attempt_deadline = "150s"', 'attempt_deadline = "60s"'),
      expected: [
        "function reaper: scheduler job google_cloud_scheduler_job.reaper: attempt_deadline 60s is shorter than the function's 120s timeout (the scheduler would give up on a run still going, and its retry would overlap it)",
      ],
    },
    {
      name: 'an extra function',
      mutate: (d) =>
        writeFileSync(path.join(d, 'extra.tf'), 'resource "google_cloudfunctions2_function" "thumbnail" {\n  name     = "thumbnail"\n  location = var.region\n}\n'),
      expected: ['function thumbnail: in terraform (google_cloudfunctions2_function.thumbnail) but not in topology'],
    },
    {
      name: 'a changed notification prefix',
      mutate: (d) => replaceIn(d, 'storage.tf', 'object_name_prefix = "uploads/"', 'object_name_prefix = "derived/"'),
      expected: ['bucket documents: notification to topic object-events: object_name_prefix derived/ in terraform, uploads/ in topology'],
    },
    {
      name: 'a notification losing an event type',
      mutate: (d) => replaceIn(d, 'storage.tf', 'event_types        = ["OBJECT_FINALIZE", "OBJECT_DELETE"]', 'event_types        = ["OBJECT_FINALIZE"]'),
      expected: ['bucket documents: notification to topic object-events: event_types [OBJECT_FINALIZE] in terraform, [OBJECT_FINALIZE, OBJECT_DELETE] in topology'],
    },
    {
      name: 'a changed CORS method list',
      mutate: (d) => replaceIn(d, 'storage.tf', 'method          = ["PUT", "GET", "HEAD"]', 'method          = ["PUT", "GET"]'),
      expected: ['bucket documents: cors[0].method [PUT, GET] in terraform, [PUT, GET, HEAD] in topology'],
    },
    {
      name: 'a renamed documents bucket',
      mutate: (d) => replaceIn(d, 'storage.tf', 'name     = "${var.project_id}-documents"', 'name     = "${var.project_id}-docs"'),
      expected: [
        `bucket ${p}-docs: in terraform (google_storage_bucket.documents) but not in topology`,
        `bucket documents: missing in terraform (no google_storage_bucket named "${p}-documents")`,
        `notification google_storage_notification.documents_uploads (bucket ${p}-docs, topic object-events): in terraform but not in topology`,
      ],
    },
    {
      name: 'a file that is not valid HCL',
      mutate: (d) => writeFileSync(path.join(d, 'broken.tf'), 'resource "google_pubsub_topic" "x" {\n'),
      expected: [],
    },
  ];

  void it('accepts ocr_engine = "local" (the processor, its grant and API are then counted away, not removed)', async () => {
    const dir = copy('local engine');
    replaceIn(dir, 'variables.tf', 'default     = "google"', 'default     = "local"');
    assert.deepEqual(await checkTerraform(dir), []);
  });

  void it('asks nothing of Vertex AI when the embedding and summary engines are local', async () => {
    const dir = copy('local vertex engines');
    setVariableDefault(dir, 'embedding_engine', '"local"');
    setVariableDefault(dir, 'embedding_dimensions', '512');
    setVariableDefault(dir, 'summary_engine', '"local"');
    // What count = 0 and the API condition leave out with local engines: the checker must not miss them.
    removeResource(dir, 'iam.tf', 'google_project_iam_member', 'api_vertex_user');
    removeResource(dir, 'iam.tf', 'google_project_iam_member', 'embed_vertex_user');
    removeResource(dir, 'iam.tf', 'google_project_iam_member', 'summarize_vertex_user');
    replaceIn(dir, 'apis.tf', '["aiplatform.googleapis.com"]', '[]');
    assert.deepEqual(await checkTerraform(dir), []);
  });

  void it('asks nothing of Speech-to-Text when the speech engine is local', async () => {
    const dir = copy('local stt engine');
    setVariableDefault(dir, 'stt_engine', '"local"');
    // What count = 0 and the API condition leave out with the local engine: the checker must not miss them.
    removeResource(dir, 'iam.tf', 'google_project_iam_member', 'transcribe_speech_client');
    replaceIn(dir, 'apis.tf', '["speech.googleapis.com"]', '[]');
    assert.deepEqual(await checkTerraform(dir), []);
  });

  for (const c of cases) {
    void it(`reports ${c.name}`, async () => {
      const dir = copy(c.name);
      c.mutate(dir);
      const problems = await checkTerraform(dir);
      if (c.expected.length === 0) {
        assert.equal(problems.length, 1, problems.join('\n'));
        assert.match(problems[0] ?? '', /^broken\.tf: cannot be parsed as HCL/);
      } else {
        assert.deepEqual(problems, c.expected);
      }
    });
  }
});
