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

# The audit log (GET /v1/audit?projectId=P): one project's entries, newest first (equality plus
# order on other fields). The unfiltered read orders on `at` and the key only: single-field indexes.
resource "google_firestore_index" "audit_by_project_at" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "auditLog"

  fields {
    field_path = "projectId"
    order      = "ASCENDING"
  }

  fields {
    field_path = "at"
    order      = "DESCENDING"
  }

  fields {
    field_path = "__name__"
    order      = "DESCENDING"
  }
}

# The stale-job reaper (functions/reaper/handler.ts) runs four queries a minute, each an equality
# plus a range on another field, which needs a composite index (single-field indexes cannot be merged
# for a range): running jobs untouched since T, oldest first (status == RUNNING, updatedAt < T,
# ordered by updatedAt); uploads awaited past their URL's expiry (status == PENDING,
# input.uploadExpiresAt < S); uploads whose look in the bucket is due, oldest first (status ==
# PENDING, input.uploadCheckAt <= S, ordered by it); ended jobs never announced (announced == false,
# finishedAt < T).
resource "google_firestore_index" "jobs_by_status_updated" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "jobs"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "updatedAt"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "jobs_by_status_upload_expiry" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "jobs"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "input.uploadExpiresAt"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "jobs_by_status_upload_check" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "jobs"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "input.uploadCheckAt"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "jobs_unannounced_by_finished" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "jobs"

  fields {
    field_path = "announced"
    order      = "ASCENDING"
  }

  fields {
    field_path = "finishedAt"
    order      = "ASCENDING"
  }
}

# Search over chunks (shared/search/search.ts, POST /v1/search on the api function). Every query
# filters one project's current-version chunks (projectId == P, current == true) and optionally one
# document (documentId == D) and/or one content type (contentType == C), in that order. A composite
# index serves only a query whose filters are exactly its fields, so each optional filter doubles
# the indexes: the four variants below, keyed by the optional filters they add. `chunks` is a
# top-level collection (chunk ids embed the document id, so they are unique on their own); if it
# became a subcollection searched with collectionGroup(), every chunks index here would need
# query_scope = "COLLECTION_GROUP".
locals {
  chunk_search_filters = {
    project               = []
    document              = ["documentId"]
    content_type          = ["contentType"]
    document_content_type = ["documentId", "contentType"]
  }
}

# Vector side: the filters above plus embeddingModel == M (only vectors of the query's own model are
# comparable), then findNearest(embedding, COSINE, limit 50). A vector query with pre-filters needs a
# composite vector index holding every filtered field and the vector field, last; single-field
# indexes cannot be merged into a vector search, so none of the four variants can go without one.
#
# The index holds, and finds, only vectors of exactly `dimension` entries: it must match the model
# that writes `embedding` (768 for text-embedding-005, 512 for the local engine's USE-lite). The
# embed and api functions get the same variable as SCRIPTORIUM_EMBEDDING_DIMENSIONS, so the three
# cannot drift apart. Changing the model or the dimension means new indexes (every field here forces
# replacement; a new vector index builds from scratch) and re-embedding every chunk, since vectors
# of the old length are invisible to the new indexes.
resource "google_firestore_index" "chunks_vector" {
  for_each = local.chunk_search_filters

  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "chunks"

  fields {
    field_path = "projectId"
    order      = "ASCENDING"
  }

  fields {
    field_path = "current"
    order      = "ASCENDING"
  }

  # Dynamic blocks expand where they stand: the optional filters come between current and
  # embeddingModel, as the query adds them.
  dynamic "fields" {
    for_each = each.value
    content {
      field_path = fields.value
      order      = "ASCENDING"
    }
  }

  fields {
    field_path = "embeddingModel"
    order      = "ASCENDING"
  }

  # Firestore puts __name__ before the vector field of a vector index; declared here as it comes
  # back (as in the provider's own vector example), or every plan would replace the index.
  fields {
    field_path = "__name__"
    order      = "ASCENDING"
  }

  fields {
    field_path = "embedding"
    vector_config {
      dimension = var.embedding_dimensions
      flat {}
    }
  }

  lifecycle {
    precondition {
      condition     = var.embedding_engine != "local" || var.embedding_dimensions == 512
      error_message = "embedding_engine = \"local\" writes 512-dimensional vectors: set embedding_dimensions = 512, or the vector index would never find them (and the local engine refuses any other dimension)."
    }
  }
}

# Keyword side, document frequencies and candidates: the filters above plus terms array-contains T.
# The `project` variant serves the per-term count() aggregations (always over the whole project, so
# scores do not depend on the filters) and the unfiltered candidate reads (limit 200, field mask);
# the other three serve candidate reads restricted to a document and/or content type. Firestore may
# answer equality plus array-contains filters by merging the automatic single-field indexes, but
# that is not documented for every combination and a merge scans the `projectId` and `terms`
# entries of other projects too; a composite index makes each query one scan of exactly its
# matches. Each of these indexes adds one entry per distinct term of a chunk (well under the 40,000
# index entries a document may have), so every variant costs index storage and write time.
resource "google_firestore_index" "chunks_terms" {
  for_each = local.chunk_search_filters

  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "chunks"

  fields {
    field_path = "projectId"
    order      = "ASCENDING"
  }

  fields {
    field_path = "current"
    order      = "ASCENDING"
  }

  dynamic "fields" {
    for_each = each.value
    content {
      field_path = fields.value
      order      = "ASCENDING"
    }
  }

  fields {
    field_path   = "terms"
    array_config = "CONTAINS"
  }
}

# Keyword side, corpus statistics: one aggregation of count() and sum("termCount") over
# projectId == P, current == true. Equality filters alone would be served by merging single-field
# indexes, but Firestore computes sum() from index entries of the summed field, so filtering on
# other fields needs a composite index that ends with it (one entry per chunk).
resource "google_firestore_index" "chunks_term_count" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "chunks"

  fields {
    field_path = "projectId"
    order      = "ASCENDING"
  }

  fields {
    field_path = "current"
    order      = "ASCENDING"
  }

  fields {
    field_path = "termCount"
    order      = "ASCENDING"
  }
}

# Addresses before the filter variants: the single keyword index is the `project` variant, kept as
# it is (same fields, no rebuild); the single vector index becomes the `project` vector variant,
# replaced because it gains embeddingModel.
moved {
  from = google_firestore_index.chunks_terms
  to   = google_firestore_index.chunks_terms["project"]
}

moved {
  from = google_firestore_index.chunks_vector
  to   = google_firestore_index.chunks_vector["project"]
}

# Stage checkpoints (jobs/{id}/checkpoints/*, shared/stages/checkpoints.ts) are deleted when their
# stage completes; a TTL policy deletes the ones of stages that never complete a week after they
# were written (`expireAt`). Single-field indexes are of no use on it.
resource "google_firestore_field" "checkpoints_ttl" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "checkpoints"
  field      = "expireAt"

  ttl_config {}

  index_config {}
}

# Job control (functions/api/routes/job-control.ts): GET /v1/jobs filters one project's jobs on
# status and/or kind (equality), optionally a createdAt range, newest first. Each combination of
# equality filters is its own composite index; the unfiltered listing is jobs_by_project_created.
locals {
  job_list_filters = {
    status      = ["status"]
    kind        = ["kind"]
    status_kind = ["status", "kind"]
  }
}

resource "google_firestore_index" "jobs_by_project_filter_created" {
  for_each = local.job_list_filters

  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "jobs"

  fields {
    field_path = "projectId"
    order      = "ASCENDING"
  }

  dynamic "fields" {
    for_each = each.value
    content {
      field_path = fields.value
      order      = "ASCENDING"
    }
  }

  fields {
    field_path = "createdAt"
    order      = "DESCENDING"
  }
}

# The reaper counts jobs RUNNING since before a threshold (status == RUNNING, createdAt < T) for the
# old-jobs alert (alerts.tf).
resource "google_firestore_index" "jobs_by_status_created" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "jobs"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "createdAt"
    order      = "ASCENDING"
  }
}

# Dead-letter records (shared/dead-letters/records.ts, GET /v1/dead-letters): newest first,
# optionally filtered on projectId, jobId and/or status (equality); one index per combination.
locals {
  dead_letter_filters = {
    project        = ["projectId"]
    job            = ["jobId"]
    status         = ["status"]
    project_job    = ["projectId", "jobId"]
    project_status = ["projectId", "status"]
    job_status     = ["jobId", "status"]
    all            = ["projectId", "jobId", "status"]
  }
}

resource "google_firestore_index" "dead_letters_by_filter" {
  for_each = local.dead_letter_filters

  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "deadLetters"

  dynamic "fields" {
    for_each = each.value
    content {
      field_path = fields.value
      order      = "ASCENDING"
    }
  }

  fields {
    field_path = "deadLetteredAt"
    order      = "DESCENDING"
  }
}
