# The documents bucket, as declared in shared/topology.ts (`bucketName(project, "documents")`).
resource "google_storage_bucket" "documents" {
  name     = "${var.project_id}-documents"
  location = var.region

  # Access is IAM only (no object ACLs): the api function hands out signed URLs, nothing is public.
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  cors {
    # Browsers PUT straight to signed URLs; the api function decides who gets one.
    origin          = ["*"]
    method          = ["PUT", "GET", "HEAD"]
    response_header = ["Content-Type", "x-goog-content-length-range", "x-goog-if-generation-match", "ETag"]
    max_age_seconds = 3600
  }

  depends_on = [google_project_service.enabled]
}

# Cloud Storage publishes notifications as its per-project service agent.
data "google_storage_project_service_account" "gcs" {
  project = var.project_id

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic_iam_member" "gcs_publishes_object_events" {
  topic  = google_pubsub_topic.object_events.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# Only uploads notify: derived files live under another prefix (and carry the derived marker).
resource "google_storage_notification" "documents_uploads" {
  bucket             = google_storage_bucket.documents.name
  topic              = google_pubsub_topic.object_events.id
  event_types        = ["OBJECT_FINALIZE", "OBJECT_DELETE"]
  object_name_prefix = "uploads/"
  payload_format     = "JSON_API_V1"

  # The notification is rejected unless the service agent may already publish to the topic.
  depends_on = [google_pubsub_topic_iam_member.gcs_publishes_object_events]
}

# Deployment-only bucket for function source archives (not part of the application topology).
resource "google_storage_bucket" "function_sources" {
  name     = "${var.project_id}-function-sources"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  depends_on = [google_project_service.enabled]
}
