# Provider pins. `~>` on the minor keeps apply reproducible across operators while allowing patch
# fixes; `terraform init` writes .terraform.lock.hcl, which should be committed after the first init
# (it cannot be generated on the offline machine this configuration was written on).
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.14"
    }
    # Firebase project/web app and service identities are only in the beta provider.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 6.14"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
  # Quota for user-credential calls to APIs such as Identity Platform and Firebase is billed to the
  # project, not to the gcloud client project; without this those APIs reject ADC user credentials.
  user_project_override = true
  billing_project       = var.project_id
}

provider "google-beta" {
  project               = var.project_id
  region                = var.region
  user_project_override = true
  billing_project       = var.project_id
}
