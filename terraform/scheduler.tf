# Scheduled functions (trigger "scheduled" in shared/topology.ts): Cloud Scheduler POSTs to the
# function's URL on the topology's schedule, with an OIDC token of the scheduler identity (iam.tf),
# the only principal granted run.invoker on it (functions.tf). The local platform's supervisor calls
# the same function on the same schedule (emulators/supervisor-schedule.ts); the schedule here must
# equal the topology's, which test/unit/terraform.test.ts checks.
#
# Cloud Scheduler never lets two executions of one job overlap: a run still going at the next
# minute delays that minute's run. The reaper is safe to run concurrently anyway (each decision is
# applied in a guarded transaction), so a manual call next to the scheduled one is harmless.

resource "google_cloud_scheduler_job" "reaper" {
  name        = "scriptorium-reaper"
  description = "Scriptorium stale-job reaper (functions/reaper): every minute."
  region      = var.region
  schedule    = "* * * * *"
  # Irrelevant every minute; explicit so that a later daily schedule reads in UTC, as the logs do.
  time_zone = "Etc/UTC"
  # Longer than the function's 120 s timeout: an attempt then ends with the function's own answer
  # (200, or 503/504), never cancelled by the scheduler while the run goes on and the retry overlaps it.
  attempt_deadline = "150s"

  # A failed run (503: Firestore or Pub/Sub unavailable) is retried, with bounds on every side:
  # retry_count and max_retry_duration (Cloud Scheduler retries until both are reached), and the
  # next scheduled run, which ends the retries of the one before. A retry only brings forward what
  # the next minute's run would do anyway, so a few quick ones are enough.
  retry_config {
    retry_count          = 2
    max_retry_duration   = "50s"
    min_backoff_duration = "5s"
    max_backoff_duration = "20s"
    max_doublings        = 2
  }

  http_target {
    # The function answers anything but POST with 405; the body is ignored.
    http_method = "POST"
    uri         = google_cloudfunctions2_function.reaper.service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler_invoker.email
      # Cloud Run checks the token audience against the service URL.
      audience = google_cloudfunctions2_function.reaper.service_config[0].uri
    }
  }

  # The invoker grant first: a run before it is refused with 403 (and counts as a failed attempt).
  depends_on = [google_project_service.enabled, google_cloud_run_service_iam_member.reaper_scheduler_invoker]
}
