# One runtime service account per function, each granted only what its function does, on the
# narrowest resource that has IAM (bucket, topic, service account). Firestore, Document AI, Vertex
# AI and Speech-to-Text are the exceptions: none has IAM on the resource used (collection,
# processor, Google's publisher models, the implicit recognizer), so datastore.user,
# documentai.apiUser, aiplatform.user and speech.client are granted on the project.

locals {
  runtime_accounts = {
    api           = "Scriptorium api function (signed URLs, jobs, documents, search)"
    ingest        = "Scriptorium ingest function (object events -> OCR and transcribe requests)"
    ocr           = "Scriptorium ocr function (OCR, derived files, document events)"
    "dead-letter" = "Scriptorium dead-letter function (records failed messages)"
    embed         = "Scriptorium embed function (chunks, embedding vectors, document events)"
    summarize     = "Scriptorium summarize function (summaries, derived files, document events)"
    transcribe    = "Scriptorium transcribe function (transcripts, derived files, document events)"
    synthesize    = "Scriptorium synthesize function (text to speech, audio as derived files)"
    reaper        = "Scriptorium reaper function (stale jobs: expiry, re-dispatch, announcements)"
    translate     = "Scriptorium translate function (translated transcripts and subtitles, document events)"
    dub           = "Scriptorium dub function (dubbed videos: speech synthesis and muxing)"
  }
}

resource "google_service_account" "runtime" {
  for_each = local.runtime_accounts

  account_id   = "scriptorium-${each.key}"
  display_name = each.value

  depends_on = [google_project_service.enabled]
}

# Every function reads and writes Firestore (jobs, documents, job logs).
resource "google_project_iam_member" "runtime_firestore" {
  for_each = local.runtime_accounts

  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.runtime[each.key].member
}

# api: a signed URL carries its signer's permissions. Uploads are signed with
# x-goog-if-generation-match: 0 (create, never overwrite), so create is enough; it also reads
# extracted text back for clients. No delete, no overwrite.
resource "google_storage_bucket_iam_member" "api_documents_creator" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.runtime["api"].member
}

resource "google_storage_bucket_iam_member" "api_documents_viewer" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.runtime["api"].member
}

# api: every request looks the user up in Identity Platform (disabled? sessions revoked?), and the
# users admin API (functions/api/routes/users.ts) creates accounts, sets the role claim, disables
# them and revokes their sessions: firebaseauth.admin (viewer only reads).
resource "google_project_iam_member" "api_reads_auth_users" {
  project = var.project_id
  role    = "roles/firebaseauth.admin"
  member  = google_service_account.runtime["api"].member
}

# api: without a key file the Storage client signs URLs with IAM signBlob as its own identity,
# which needs Token Creator on that same service account (and nothing broader).
resource "google_service_account_iam_member" "api_signs_as_itself" {
  service_account_id = google_service_account.runtime["api"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.runtime["api"].member
}

# api: a re-embedding (after a change of embedding model) is started by the API, which publishes the
# document's text-ready event for the embed function.
resource "google_pubsub_topic_iam_member" "api_publishes_document_events" {
  topic  = google_pubsub_topic.document_events.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["api"].member
}

# ingest: never calls Cloud Storage (the notification carries the object's metadata). It publishes
# OCR requests, transcribe requests (a recording's job starts with the transcribe stage), and a
# document-failed event when an upload is refused.
resource "google_pubsub_topic_iam_member" "ingest_publishes_ocr_requests" {
  topic  = google_pubsub_topic.ocr_requests.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["ingest"].member
}

resource "google_pubsub_topic_iam_member" "ingest_publishes_transcribe_requests" {
  topic  = google_pubsub_topic.transcribe_requests.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["ingest"].member
}

resource "google_pubsub_topic_iam_member" "ingest_publishes_document_events" {
  topic  = google_pubsub_topic.document_events.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["ingest"].member
}

# ocr: downloads uploads and writes derived files; a retried attempt overwrites its own earlier
# output, which needs delete as well as create, hence objectAdmin rather than objectCreator.
resource "google_storage_bucket_iam_member" "ocr_documents_object_admin" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.runtime["ocr"].member
}

resource "google_pubsub_topic_iam_member" "ocr_publishes_document_events" {
  topic  = google_pubsub_topic.document_events.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["ocr"].member
}

# ocr with the google engine: processOnline on the Document AI processor. Document AI has no
# per-processor IAM (the provider has no IAM resource for processors), so the grant is project-wide;
# apiUser is the predefined role for calling processors (processOnline), not managing them.
resource "google_project_iam_member" "ocr_documentai_user" {
  count = var.ocr_engine == "google" ? 1 : 0

  project = var.project_id
  role    = "roles/documentai.apiUser"
  member  = google_service_account.runtime["ocr"].member
}

# embed: reads the extracted text (a derived object) and writes nothing to Cloud Storage (chunks and
# vectors go to Firestore), so viewer is enough. It publishes document events: the stage that
# finishes a document's processing announces it ready (or failed).
resource "google_storage_bucket_iam_member" "embed_documents_viewer" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.runtime["embed"].member
}

resource "google_pubsub_topic_iam_member" "embed_publishes_document_events" {
  topic  = google_pubsub_topic.document_events.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["embed"].member
}

# embed with the google engine: Vertex AI text embeddings (predict on a Google publisher model).
# Publisher models have no IAM of their own, so the grant is project-wide; aiplatform.user is the
# narrowest predefined role that can call them (a custom role holding aiplatform.endpoints.predict
# would be narrower still).
resource "google_project_iam_member" "embed_vertex_user" {
  count = var.embedding_engine == "google" ? 1 : 0

  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = google_service_account.runtime["embed"].member
}

# api with the google embedding engine: search embeds each query with the same Vertex AI model as
# the chunks (project-wide, as for embed). Without it the vector side fails and search answers
# keyword only.
resource "google_project_iam_member" "api_vertex_user" {
  count = var.embedding_engine == "google" ? 1 : 0

  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = google_service_account.runtime["api"].member
}

# summarize: reads the extracted text and writes its summary as a derived object. Derived objects
# are written create-only (ifGenerationMatch: 0, shared/storage writeDerived): a retried attempt gets
# 412, reads the existing object's metadata and uses it, and never overwrites or deletes. So creator
# (create) + viewer (read, metadata) suffice, as for the api; objectAdmin would add delete and
# overwrite on every object in the bucket, uploads included.
resource "google_storage_bucket_iam_member" "summarize_documents_creator" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.runtime["summarize"].member
}

resource "google_storage_bucket_iam_member" "summarize_documents_viewer" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.runtime["summarize"].member
}

resource "google_pubsub_topic_iam_member" "summarize_publishes_document_events" {
  topic  = google_pubsub_topic.document_events.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["summarize"].member
}

# summarize with the google engine: Gemini generateContent on Vertex AI (project-wide, as above).
resource "google_project_iam_member" "summarize_vertex_user" {
  count = var.summary_engine == "google" ? 1 : 0

  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = google_service_account.runtime["summarize"].member
}

# transcribe: downloads the recording and writes derived files (the transcript as text, JSON, SRT
# and WebVTT): object admin, as for ocr. It publishes the text-ready (or failed) event.
resource "google_storage_bucket_iam_member" "transcribe_documents_object_admin" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.runtime["transcribe"].member
}

resource "google_pubsub_topic_iam_member" "transcribe_publishes_document_events" {
  topic  = google_pubsub_topic.document_events.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["transcribe"].member
}

# transcribe with the google engine: Recognize on Speech-to-Text v2 through the implicit recognizer
# (projects/P/locations/L/recognizers/_), which is no resource with IAM of its own, so the grant is
# project-wide; speech.client is the predefined role for calling recognition (it holds
# speech.recognizers.recognize), not for managing recognizers.
resource "google_project_iam_member" "transcribe_speech_client" {
  count = var.stt_engine == "google" ? 1 : 0

  project = var.project_id
  role    = "roles/speech.client"
  member  = google_service_account.runtime["transcribe"].member
}

# api: a text-to-speech job (POST /v1/jobs) is started by the API, which stores the request as an
# object (create-only, covered by api_documents_creator) and publishes it on synthesize-requests.
resource "google_pubsub_topic_iam_member" "api_publishes_synthesize_requests" {
  topic  = google_pubsub_topic.synthesize_requests.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["api"].member
}

# synthesize: reads the stored request and writes the audio create-only as a derived object; a
# retried attempt reads the existing object's metadata after a 412: creator + viewer, no delete.
# It publishes nothing (the job record is the outcome clients listen to).
resource "google_storage_bucket_iam_member" "synthesize_documents_creator" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.runtime["synthesize"].member
}

resource "google_storage_bucket_iam_member" "synthesize_documents_viewer" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.runtime["synthesize"].member
}

# reaper: reads and writes jobs (Firestore, above). A stuck OCR or transcribe stage is restarted by
# publishing its request again (on ocr-requests or transcribe-requests), a stuck text stage (embed,
# summarize) by publishing the text-ready event again, and an unannounced outcome by publishing it on
# document-events: publisher on exactly those topics, plus the two below.
resource "google_pubsub_topic_iam_member" "reaper_publishes_ocr_requests" {
  topic  = google_pubsub_topic.ocr_requests.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["reaper"].member
}

resource "google_pubsub_topic_iam_member" "reaper_publishes_transcribe_requests" {
  topic  = google_pubsub_topic.transcribe_requests.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["reaper"].member
}

# reaper: a stuck text-to-speech job is restarted by publishing its synthesize request again.
resource "google_pubsub_topic_iam_member" "reaper_publishes_synthesize_requests" {
  topic  = google_pubsub_topic.synthesize_requests.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["reaper"].member
}

resource "google_pubsub_topic_iam_member" "reaper_publishes_document_events" {
  topic  = google_pubsub_topic.document_events.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["reaper"].member
}

# reaper: a job still awaiting its upload has its upload name looked up in the bucket (object
# metadata, a GET: objectViewer, no write); an upload stored whose notification never reached ingest
# is handed to ingest again by publishing the same notification on object-events.
resource "google_storage_bucket_iam_member" "reaper_documents_viewer" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.runtime["reaper"].member
}

resource "google_pubsub_topic_iam_member" "reaper_publishes_object_events" {
  topic  = google_pubsub_topic.object_events.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["reaper"].member
}

# Identity Pub/Sub uses for OIDC tokens on push deliveries; the only principal allowed to invoke
# the event-driven functions.
resource "google_service_account" "push_invoker" {
  account_id   = "scriptorium-push-invoker"
  display_name = "Scriptorium Pub/Sub push invoker"

  depends_on = [google_project_service.enabled]
}

# Pub/Sub mints the push OIDC tokens as its service agent. Projects created after April 2021 have
# this implicitly; older ones need it, and granting it on the one account is harmless either way.
resource "google_service_account_iam_member" "pubsub_agent_mints_push_tokens" {
  service_account_id = google_service_account.push_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

# Identity Cloud Scheduler presents (an OIDC token) when it calls the scheduled functions; the only
# principal allowed to invoke them. Cloud Scheduler's service agent mints the tokens: it holds the
# Cloud Scheduler Service Agent role on projects that enabled the API after March 2019 (an older
# project must grant it roles/cloudscheduler.serviceAgent first). Whoever applies this needs
# iam.serviceAccounts.actAs on this account to attach it to a job (Owner, or Service Account User).
resource "google_service_account" "scheduler_invoker" {
  account_id   = "scriptorium-scheduler-invoker"
  display_name = "Scriptorium Cloud Scheduler invoker"

  depends_on = [google_project_service.enabled]
}

# Cloud Build identity for function builds. New projects no longer give the default compute
# service account broad roles, so builds get a dedicated account with just what a build needs.
resource "google_service_account" "build" {
  account_id   = "scriptorium-build"
  display_name = "Scriptorium function builds"

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "build" {
  for_each = toset([
    "roles/cloudbuild.builds.builder",
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
  ])

  project = var.project_id
  role    = each.value
  member  = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.function_sources.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# translate: reads the transcript and writes the translation (JSON, SRT, WebVTT) as derived objects,
# create-only (as summarize: creator + viewer), and publishes the translation-ready event.
resource "google_storage_bucket_iam_member" "translate_documents_creator" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.runtime["translate"].member
}

resource "google_storage_bucket_iam_member" "translate_documents_viewer" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.runtime["translate"].member
}

resource "google_pubsub_topic_iam_member" "translate_publishes_document_events" {
  topic  = google_pubsub_topic.document_events.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.runtime["translate"].member
}

# translate with the google engine: TranslateText on projects/P/locations/L, which has no IAM of its
# own, so the grant is project-wide; cloudtranslate.user is the predefined role for translating.
resource "google_project_iam_member" "translate_cloudtranslate_user" {
  count = var.translate_engine == "google" ? 1 : 0

  project = var.project_id
  role    = "roles/cloudtranslate.user"
  member  = google_service_account.runtime["translate"].member
}

# dub: downloads the recording, reads the translation and writes the dubbed MP4, create-only
# (creator + viewer). It announces nothing (its completion ends the job; video.translate outcomes
# are not published), so no publisher grant. Cloud Text-to-Speech needs its API enabled only.
resource "google_storage_bucket_iam_member" "dub_documents_creator" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.runtime["dub"].member
}

resource "google_storage_bucket_iam_member" "dub_documents_viewer" {
  bucket = google_storage_bucket.documents.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.runtime["dub"].member
}
