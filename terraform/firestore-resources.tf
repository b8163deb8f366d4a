# Indexes behind the resource API (functions/api/routes/documents-admin.ts, projects.ts).

# GET /v1/documents: projectId, optionally status or contentType (equality), sorted by createdAt
# (either way) or fileName (a file-name prefix is a range on fileName, so it sorts by it). The
# newest-first listing without filters is documents_by_project_created (firestore.tf). Status and
# content type together are not indexed: the API serves them, production needs one more index.
locals {
  document_list_indexes = {
    project_created_asc      = [["projectId", "ASCENDING"], ["createdAt", "ASCENDING"]]
    project_filename         = [["projectId", "ASCENDING"], ["fileName", "ASCENDING"]]
    project_status_created   = [["projectId", "ASCENDING"], ["status", "ASCENDING"], ["createdAt", "DESCENDING"]]
    project_status_created_a = [["projectId", "ASCENDING"], ["status", "ASCENDING"], ["createdAt", "ASCENDING"]]
    project_status_filename  = [["projectId", "ASCENDING"], ["status", "ASCENDING"], ["fileName", "ASCENDING"]]
    project_type_created     = [["projectId", "ASCENDING"], ["contentType", "ASCENDING"], ["createdAt", "DESCENDING"]]
    project_type_created_a   = [["projectId", "ASCENDING"], ["contentType", "ASCENDING"], ["createdAt", "ASCENDING"]]
    project_type_filename    = [["projectId", "ASCENDING"], ["contentType", "ASCENDING"], ["fileName", "ASCENDING"]]
  }
}

resource "google_firestore_index" "document_list" {
  for_each   = local.document_list_indexes
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "documents"

  dynamic "fields" {
    for_each = each.value
    content {
      field_path = fields.value[0]
      order      = fields.value[1]
    }
  }
}

# GET /v1/projects: the caller's memberships, a collection-group query on members by uid (single
# fields are indexed per collection only; a collection group needs its own).
resource "google_firestore_field" "members_uid" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "members"
  field      = "uid"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
  }
}

# Collection-group queries on members by project (a member listing their project's members).
resource "google_firestore_field" "members_project" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "members"
  field      = "projectId"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
  }
}
