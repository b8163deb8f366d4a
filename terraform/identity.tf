# Firebase on the project, so clients can use the Firebase SDKs (Auth, Firestore) with a web app
# configuration; Identity Platform is the Firebase Authentication backend.
resource "google_firebase_project" "default" {
  provider = google-beta
  project  = var.project_id

  depends_on = [google_project_service.enabled]
}

resource "google_firebase_web_app" "console" {
  provider     = google-beta
  project      = var.project_id
  display_name = "Scriptorium console"
  # Keep the app (and its API key) if this configuration is destroyed: clients may still hold it.
  deletion_policy = "ABANDON"

  depends_on = [google_firebase_project.default]
}

data "google_firebase_web_app_config" "console" {
  provider   = google-beta
  project    = var.project_id
  web_app_id = google_firebase_web_app.console.app_id
}

resource "google_identity_platform_config" "auth" {
  project = var.project_id

  sign_in {
    allow_duplicate_emails = false

    email {
      enabled           = true
      password_required = true
    }
  }

  authorized_domains = concat(
    ["localhost", "${var.project_id}.firebaseapp.com", "${var.project_id}.web.app"],
    var.authorized_domains,
  )

  depends_on = [google_project_service.enabled, google_firebase_project.default]
}
