output "api_url" {
  description = "Base URL of the HTTP api function."
  value       = google_cloudfunctions2_function.api.service_config[0].uri
}

output "bucket_name" {
  description = "The documents bucket (SCRIPTORIUM_BUCKET)."
  value       = google_storage_bucket.documents.name
}

output "project_id" {
  value = var.project_id
}

output "region" {
  value = var.region
}

output "push_invoker_service_account" {
  description = "Identity Pub/Sub presents when pushing to the event functions."
  value       = google_service_account.push_invoker.email
}

output "firebase_web_config" {
  description = "Firebase web configuration for clients (the API key identifies the project; it is not a secret)."
  value = {
    apiKey     = data.google_firebase_web_app_config.console.api_key
    authDomain = data.google_firebase_web_app_config.console.auth_domain
    projectId  = var.project_id
    appId      = google_firebase_web_app.console.app_id
  }
}

output "documentai_processor" {
  description = "Full resource name of the Document AI OCR processor (SCRIPTORIUM_DOCUMENTAI_PROCESSOR of the ocr function); null with ocr_engine = \"local\"."
  value       = one(google_document_ai_processor.ocr[*].id)
}
