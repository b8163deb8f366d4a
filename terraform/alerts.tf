# Alerts: log-based metrics on the structured lines the functions write (shared/logger: one JSON
# object per line on stdout, which Cloud Logging turns into jsonPayload, `message` included), and
# alert policies on them. test/unit/terraform-alerts.test.ts checks that every metric's filter names
# a message (and the jsonPayload fields) some function really logs, so a renamed log line cannot
# silently blind an alert.
#
# The lines counted:
#   dead-letter function  "dead-lettered message"   {deadLetter: true, subscription, reason, ...}
#   any stage, the API    "job ended"               {jobEnded: true, status, kind, errorCode, ...}
#   reaper                "reaper acted"            {reaper: true, expired, redispatched, announced, reingested, failures}
#   reaper                "jobs running longer than the threshold"  {oldJobs, thresholdMinutes}

variable "alert_notification_channels" {
  description = "Monitoring notification channel ids (projects/P/notificationChannels/N) the alert policies notify; empty creates the policies without notifications."
  type        = list(string)
  default     = []
}

variable "alert_job_failure_rate" {
  description = "Alert when more than this fraction of the jobs that ended in 30 minutes FAILED."
  type        = number
  default     = 0.2

  validation {
    condition     = var.alert_job_failure_rate > 0 && var.alert_job_failure_rate <= 1
    error_message = "alert_job_failure_rate must be in (0, 1]."
  }
}

variable "alert_dead_letters_per_hour" {
  description = "Alert when more messages than this were dead-lettered within an hour."
  type        = number
  default     = 0
}

variable "alert_reaper_actions_per_hour" {
  description = "Alert when the reaper had to act (re-dispatch, expire, announce, or failed) in more runs than this within an hour."
  type        = number
  default     = 5
}

locals {
  # Cloud Functions (2nd gen) run as Cloud Run services named after the function.
  function_log = "resource.type=\"cloud_run_revision\""
}

resource "google_logging_metric" "dead_lettered_messages" {
  name        = "scriptorium/dead_lettered_messages"
  description = "Messages Pub/Sub dead-lettered, as the dead-letter function recorded them (deadLetters/{messageId})."
  filter      = "${local.function_log} AND resource.labels.service_name=\"dead-letter\" AND jsonPayload.message=\"dead-lettered message\" AND jsonPayload.deadLetter=true"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "subscription"
      value_type  = "STRING"
      description = "The subscription that gave up on the message."
    }

    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "The reason code recorded (the job's error code, or NO_JOB)."
    }
  }

  label_extractors = {
    "subscription" = "EXTRACT(jsonPayload.subscription)"
    "reason"       = "EXTRACT(jsonPayload.reason)"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "jobs_ended" {
  name        = "scriptorium/jobs_ended"
  description = "Jobs that reached a terminal status (logged once, with their announcement)."
  filter      = "${local.function_log} AND jsonPayload.message=\"job ended\" AND jsonPayload.jobEnded=true"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "status"
      value_type  = "STRING"
      description = "COMPLETED, FAILED or CANCELLED."
    }

    labels {
      key         = "kind"
      value_type  = "STRING"
      description = "The job kind."
    }
  }

  label_extractors = {
    "status" = "EXTRACT(jsonPayload.status)"
    "kind"   = "EXTRACT(jsonPayload.kind)"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "jobs_failed" {
  name        = "scriptorium/jobs_failed"
  description = "Jobs that ended FAILED (the numerator of the failure rate)."
  filter      = "${local.function_log} AND jsonPayload.message=\"job ended\" AND jsonPayload.jobEnded=true AND jsonPayload.status=\"FAILED\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "error_code"
      value_type  = "STRING"
      description = "The job's error code."
    }
  }

  label_extractors = {
    "error_code" = "EXTRACT(jsonPayload.errorCode)"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "reaper_actions" {
  name        = "scriptorium/reaper_actions"
  description = "Reaper runs that had to act: a stuck stage re-dispatched, an upload expired, an outcome announced, or a job it could not handle."
  filter      = "${local.function_log} AND resource.labels.service_name=\"reaper\" AND jsonPayload.message=\"reaper acted\" AND jsonPayload.reaper=true"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "old_jobs" {
  name        = "scriptorium/old_running_jobs"
  description = "Jobs RUNNING for longer than the reaper's threshold (one hour), as counted by each reaper run."
  filter      = "${local.function_log} AND resource.labels.service_name=\"reaper\" AND jsonPayload.message=\"jobs running longer than the threshold\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "1"
  }

  value_extractor = "EXTRACT(jsonPayload.oldJobs)"

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 16
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "dead_letters" {
  display_name          = "Scriptorium: messages dead-lettered"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  documentation {
    content   = "Pub/Sub gave up on messages after their subscription's max delivery attempts. List them with `scriptorium dead-letters list` (or GET /v1/dead-letters), fix the cause, retry the failed jobs and replay."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "dead-lettered messages in the last hour"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.dead_lettered_messages.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_dead_letters_per_hour
      duration        = "0s"

      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }
}

# The dead-letter subscription's own bounded retry (pubsub.tf): anything in
# dead-letter-unprocessed-archive is a dead-lettered message the dead-letter function could not record.
resource "google_monitoring_alert_policy" "dead_letter_unprocessed" {
  display_name          = "Scriptorium: dead letters the dead-letter function could not handle"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  documentation {
    content   = "Messages are waiting in the dead-letter-unprocessed-archive subscription: the dead-letter function failed on them 10 times. Pull them, read the dead-letter function's logs, and fix it."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "undelivered messages in dead-letter-unprocessed-archive"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.dead_letter_unprocessed_archive.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }
}

resource "google_monitoring_alert_policy" "job_failure_rate" {
  display_name          = "Scriptorium: job failure rate"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  documentation {
    content   = "More than ${var.alert_job_failure_rate * 100}% of the jobs that ended in 30 minutes FAILED. `scriptorium jobs --status FAILED` lists them with their errors; `scriptorium retry JOB_ID` retries one."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "failed / ended jobs over 30 minutes"
    condition_threshold {
      filter             = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.jobs_failed.name}\" AND resource.type=\"cloud_run_revision\""
      denominator_filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.jobs_ended.name}\" AND resource.type=\"cloud_run_revision\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alert_job_failure_rate
      duration           = "0s"

      aggregations {
        alignment_period     = "1800s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      denominator_aggregations {
        alignment_period     = "1800s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }
}

resource "google_monitoring_alert_policy" "reaper_actions" {
  display_name          = "Scriptorium: reaper keeps finding stuck jobs"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  documentation {
    content   = "The stale-job reaper had to act in more than ${var.alert_reaper_actions_per_hour} runs within an hour: attempts are dying (timeouts, crashes) or messages are lost. Its log lines (\"reaper re-dispatched a stuck job\") name the jobs and why."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "reaper runs that acted in the last hour"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.reaper_actions.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_reaper_actions_per_hour
      duration        = "0s"

      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }
}

resource "google_monitoring_alert_policy" "old_jobs" {
  display_name          = "Scriptorium: jobs running for over an hour"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  documentation {
    content   = "Some jobs have been RUNNING for more than an hour (the reaper counts them every minute). `scriptorium jobs --status RUNNING` lists them; `scriptorium cancel JOB_ID` stops one."
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "reaper reported old running jobs for 15 minutes"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.old_jobs.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "900s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_PERCENTILE_99"
        cross_series_reducer = "REDUCE_MAX"
      }

      trigger {
        count = 1
      }
    }
  }
}
