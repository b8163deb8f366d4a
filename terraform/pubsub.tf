# Topics and subscriptions exactly as declared in shared/topology.ts; test/unit/terraform.test.ts
# fails when the two disagree. Push endpoints are `<function uri>/projects/<project>/topics/<topic>`
# because functions-framework derives the CloudEvent `source` from the request path.

resource "google_pubsub_topic" "object_events" {
  name       = "object-events"
  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "ocr_requests" {
  name       = "ocr-requests"
  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "transcribe_requests" {
  name       = "transcribe-requests"
  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "synthesize_requests" {
  name       = "synthesize-requests"
  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "document_events" {
  name       = "document-events"
  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "dead_letter" {
  name       = "dead-letter"
  depends_on = [google_project_service.enabled]
}

# Where the dead-letter subscription itself gives up (its bounded retry): kept, never processed.
resource "google_pubsub_topic" "dead_letter_unprocessed" {
  name       = "dead-letter-unprocessed"
  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_subscription" "ingest_object_events" {
  name                       = "ingest-object-events"
  topic                      = google_pubsub_topic.object_events.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.ingest.service_config[0].uri}/projects/${var.project_id}/topics/${google_pubsub_topic.object_events.name}"
    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      # Cloud Run checks the token audience against the service URL, not the full endpoint.
      audience = google_cloudfunctions2_function.ingest.service_config[0].uri
    }
  }

  # Subscriptions otherwise expire after 31 days without activity.
  expiration_policy {
    ttl = ""
  }
}

# OCR of a long document takes minutes; the ack deadline bounds one push attempt (Pub/Sub's maximum
# is 600 s, which is why the ocr function's timeout stays below it).
resource "google_pubsub_subscription" "ocr_ocr_requests" {
  name                       = "ocr-ocr-requests"
  topic                      = google_pubsub_topic.ocr_requests.id
  ack_deadline_seconds       = 600
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.ocr.service_config[0].uri}/projects/${var.project_id}/topics/${google_pubsub_topic.ocr_requests.name}"
    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.ocr.service_config[0].uri
    }
  }

  expiration_policy {
    ttl = ""
  }
}

# Transcribing a long recording takes minutes (segment by segment, with progress), as OCR does: the
# same 600 s ack deadline bounds one push attempt, and the transcribe function times out below it.
resource "google_pubsub_subscription" "transcribe_transcribe_requests" {
  name                       = "transcribe-transcribe-requests"
  topic                      = google_pubsub_topic.transcribe_requests.id
  ack_deadline_seconds       = 600
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.transcribe.service_config[0].uri}/projects/${var.project_id}/topics/${google_pubsub_topic.transcribe_requests.name}"
    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.transcribe.service_config[0].uri
    }
  }

  expiration_policy {
    ttl = ""
  }
}

# Speech synthesis of a long text takes minutes (chunk by chunk, with progress): as OCR, a 600 s ack
# deadline bounds one push attempt and the synthesize function times out below it.
resource "google_pubsub_subscription" "synthesize_synthesize_requests" {
  name                       = "synthesize-synthesize-requests"
  topic                      = google_pubsub_topic.synthesize_requests.id
  ack_deadline_seconds       = 600
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.synthesize.service_config[0].uri}/projects/${var.project_id}/topics/${google_pubsub_topic.synthesize_requests.name}"
    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.synthesize.service_config[0].uri
    }
  }

  expiration_policy {
    ttl = ""
  }
}

# Bounded retry: the dead-letter function only asks for redelivery while a live attempt holds the
# job; a message it still cannot handle after 10 deliveries goes to dead-letter-unprocessed (alerted
# on in alerts.tf) instead of being redelivered for the whole retention week.
resource "google_pubsub_subscription" "dead_letter_dead_letter" {
  name                       = "dead-letter-dead-letter"
  topic                      = google_pubsub_topic.dead_letter.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter_unprocessed.id
    max_delivery_attempts = 10
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.dead_letter.service_config[0].uri}/projects/${var.project_id}/topics/${google_pubsub_topic.dead_letter.name}"
    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.dead_letter.service_config[0].uri
    }
  }

  expiration_policy {
    ttl = ""
  }
}

# Kept for replay: every dead-lettered message stays here for a week.
resource "google_pubsub_subscription" "dead_letter_archive" {
  name                       = "dead-letter-archive"
  topic                      = google_pubsub_topic.dead_letter.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = ""
  }
}

# Messages the dead-letter function could not record, kept a week for an operator (pull).
resource "google_pubsub_subscription" "dead_letter_unprocessed_archive" {
  name                       = "dead-letter-unprocessed-archive"
  topic                      = google_pubsub_topic.dead_letter_unprocessed.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = ""
  }
}

# Fan-out: one text-ready event on document-events reaches the embed and summarize functions through
# their own subscriptions, so the two stages run in parallel, each retried and dead-lettered on its
# own (other event types are acknowledged without work). Embedding or summarizing a long document
# takes minutes; the ack deadline bounds one push attempt, and both functions time out below it.
resource "google_pubsub_subscription" "embed_document_events" {
  name                       = "embed-document-events"
  topic                      = google_pubsub_topic.document_events.id
  ack_deadline_seconds       = 600
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.embed.service_config[0].uri}/projects/${var.project_id}/topics/${google_pubsub_topic.document_events.name}"
    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.embed.service_config[0].uri
    }
  }

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "summarize_document_events" {
  name                       = "summarize-document-events"
  topic                      = google_pubsub_topic.document_events.id
  ack_deadline_seconds       = 600
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.summarize.service_config[0].uri}/projects/${var.project_id}/topics/${google_pubsub_topic.document_events.name}"
    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.summarize.service_config[0].uri
    }
  }

  expiration_policy {
    ttl = ""
  }
}

# Every document event kept for a week (replay, audits); pulled by tests.
resource "google_pubsub_subscription" "document_events_archive" {
  name                       = "document-events-archive"
  topic                      = google_pubsub_topic.document_events.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = ""
  }
}

# Dead lettering is done by the Pub/Sub service agent: it must be able to publish to the
# dead-letter topic and to acknowledge (subscribe to) each source subscription, or messages are
# redelivered forever instead of being forwarded after max_delivery_attempts.
resource "google_pubsub_topic_iam_member" "pubsub_agent_publishes_dead_letter" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_topic_iam_member" "pubsub_agent_publishes_dead_letter_unprocessed" {
  topic  = google_pubsub_topic.dead_letter_unprocessed.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_subscribes_dead_letter_dead_letter" {
  subscription = google_pubsub_subscription.dead_letter_dead_letter.id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_subscribes_ingest_object_events" {
  subscription = google_pubsub_subscription.ingest_object_events.id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_subscribes_ocr_ocr_requests" {
  subscription = google_pubsub_subscription.ocr_ocr_requests.id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_subscribes_transcribe_transcribe_requests" {
  subscription = google_pubsub_subscription.transcribe_transcribe_requests.id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_subscribes_embed_document_events" {
  subscription = google_pubsub_subscription.embed_document_events.id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_subscribes_summarize_document_events" {
  subscription = google_pubsub_subscription.summarize_document_events.id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

# Video translation: the text-ready event of a video.translate job's transcript starts the translate
# function (other jobs have no translate stage: acknowledged without work), and its translation-ready
# event starts the dub function. Both take minutes at most; the ack deadline bounds one push attempt.
resource "google_pubsub_subscription" "translate_document_events" {
  name                       = "translate-document-events"
  topic                      = google_pubsub_topic.document_events.id
  ack_deadline_seconds       = 600
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.translate.service_config[0].uri}/projects/${var.project_id}/topics/${google_pubsub_topic.document_events.name}"
    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.translate.service_config[0].uri
    }
  }

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "dub_document_events" {
  name                       = "dub-document-events"
  topic                      = google_pubsub_topic.document_events.id
  ack_deadline_seconds       = 600
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.dub.service_config[0].uri}/projects/${var.project_id}/topics/${google_pubsub_topic.document_events.name}"
    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.dub.service_config[0].uri
    }
  }

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_subscribes_translate_document_events" {
  subscription = google_pubsub_subscription.translate_document_events.id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_subscribes_dub_document_events" {
  subscription = google_pubsub_subscription.dub_document_events.id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_subscribes_synthesize_synthesize_requests" {
  subscription = google_pubsub_subscription.synthesize_synthesize_requests.id
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_project_service_identity.pubsub.email}"
}
