# OCR processor for SCRIPTORIUM_OCR_ENGINE=google. Only created when that engine is selected.
resource "google_document_ai_processor" "ocr" {
  count = var.ocr_engine == "google" ? 1 : 0

  location     = var.documentai_location
  display_name = "scriptorium-ocr"
  type         = "OCR_PROCESSOR"

  depends_on = [google_project_service.enabled]
}
