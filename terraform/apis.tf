locals {
  # Every API the deployment touches. eventarc is deliberately absent: Pub/Sub delivers to the
  # functions through the push subscriptions declared in pubsub.tf, not through Eventarc triggers.
  always_enabled = [
    "artifactregistry.googleapis.com", # images built for gen2 functions
    "cloudbuild.googleapis.com",       # builds function sources
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com", # project lookups and IAM
    "cloudscheduler.googleapis.com",       # runs the scheduled functions (the reaper), scheduler.tf
    "firebase.googleapis.com",
    "firebaserules.googleapis.com", # Firestore security rules
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",  # signBlob: the api function signs upload URLs without a key
    "identitytoolkit.googleapis.com", # Identity Platform (Firebase Authentication)
    "logging.googleapis.com",
    "monitoring.googleapis.com", # alert policies on the log-based metrics, alerts.tf
    "pubsub.googleapis.com",
    "run.googleapis.com", # gen2 functions are Cloud Run services
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
  ]

  # Document AI only when the ocr function uses it (the OCR processor in documentai.tf); Vertex AI
  # only when the embed and api functions (text embeddings of chunks and of search queries) or the
  # summarize function (Gemini) use it; Speech-to-Text only when the transcribe function uses it.
  services = toset(concat(
    local.always_enabled,
    var.ocr_engine == "google" ? ["documentai.googleapis.com"] : [],
    var.embedding_engine == "google" || var.summary_engine == "google" ? ["aiplatform.googleapis.com"] : [],
    var.stt_engine == "google" ? ["speech.googleapis.com"] : [],
    var.tts_engine == "google" ? ["texttospeech.googleapis.com"] : [],
    # Video translation: Cloud Translation for the translate function (dub speaks with tts_engine).
    var.translate_engine == "google" ? ["translate.googleapis.com"] : [],
  ))
}

resource "google_project_service" "enabled" {
  for_each = local.services

  project = var.project_id
  service = each.value
  # Destroying this configuration must not switch APIs off under anything else in the project.
  disable_on_destroy = false
}

data "google_project" "project" {
  project_id = var.project_id
}

# The Pub/Sub service agent only exists once something asks for it; IAM bindings to it (dead
# lettering, OIDC push tokens) fail on a fresh project unless it is created explicitly first.
resource "google_project_service_identity" "pubsub" {
  provider = google-beta

  project = var.project_id
  service = "pubsub.googleapis.com"

  depends_on = [google_project_service.enabled]
}
