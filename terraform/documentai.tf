# The Document AI OCR processor the `google` OCR engine sends pages to (Enterprise Document OCR,
# online processing). Created only with ocr_engine = "google"; switching to "local" destroys it (a
# processor holds no data, only its configuration).
#
# Its `id` is the full resource name, projects/<project id>/locations/<location>/processors/<id>,
# which is what SCRIPTORIUM_DOCUMENTAI_PROCESSOR must hold (functions.tf). `name` is only the last
# segment: ConfigSchema would reject it and the ocr function would not start.
resource "google_document_ai_processor" "ocr" {
  count = var.ocr_engine == "google" ? 1 : 0

  project      = var.project_id
  location     = var.documentai_location
  display_name = "scriptorium-ocr" # unique per project and location
  type         = "OCR_PROCESSOR"

  depends_on = [google_project_service.enabled]
}
