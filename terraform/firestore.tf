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

# Semantic search over chunks: the query filters one project's current-version chunks
# (projectId == P, current == true) and asks for the nearest `embedding` vectors (findNearest).
# Equality pre-filters with a vector search need one composite index holding those fields and the
# vector field, last. `chunks` is a top-level collection (chunk ids embed the document id, so they
# are unique on their own); if it became a subcollection searched with collectionGroup(), this index
# (and the next) would need query_scope = "COLLECTION_GROUP".
#
# The index holds, and finds, only vectors of exactly `dimension` entries: it must match the model
# that writes `embedding` (768 for text-embedding-005, 512 for the local engine's USE-lite). The
# embed function gets the same variable as SCRIPTORIUM_EMBEDDING_DIMENSIONS, so the two cannot
# drift apart. Changing the model or the dimension means a new index (every field here forces
# replacement; a new vector index builds from scratch) and re-embedding every chunk, since vectors
# of the old length are invisible to the new index.
resource "google_firestore_index" "chunks_vector" {
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

# Keyword search over chunks: projectId == P, current == true, terms array-contains T. Firestore
# could answer these equality and array-contains filters by merging the automatic single-field
# indexes, but a composite index makes each query a single index scan. Its fields must be exactly the filtered ones: a keyword query that
# drops the `current` filter would not use it.
resource "google_firestore_index" "chunks_terms" {
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
    field_path   = "terms"
    array_config = "CONTAINS"
  }
}
