resource "google_firestore_database" "default" {
  project     = var.project_id
  name        = "(default)"
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"

  # Jobs and documents are the record of every upload: never let a `terraform destroy` drop them.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.enabled]
}

# Clients (web console, CLI, SDK) read Firestore directly under these rules; the same file is what
# the emulator tests exercise.
resource "google_firebaserules_ruleset" "firestore" {
  project = var.project_id

  source {
    files {
      name    = "firestore.rules"
      content = file("${path.module}/../shared/firestore/firestore.rules")
    }
  }

  depends_on = [google_firestore_database.default]
}

resource "google_firebaserules_release" "firestore" {
  project      = var.project_id
  name         = "cloud.firestore"
  ruleset_name = "projects/${var.project_id}/rulesets/${google_firebaserules_ruleset.firestore.name}"

  # A release points at one immutable ruleset: a rules change creates a new ruleset and the
  # release must follow it.
  lifecycle {
    replace_triggered_by = [google_firebaserules_ruleset.firestore]
  }
}

# Listings filter on projectId and sort newest first (web console, CLI). Equality + order on a
# different field needs a composite index.
resource "google_firestore_index" "jobs_by_project_created" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "jobs"

  fields {
    field_path = "projectId"
    order      = "ASCENDING"
  }

  fields {
    field_path = "createdAt"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "documents_by_project_created" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "documents"

  fields {
    field_path = "projectId"
    order      = "ASCENDING"
  }

  fields {
    field_path = "createdAt"
    order      = "DESCENDING"
  }
}
