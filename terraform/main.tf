data "google_project" "this" {
  project_id = var.project_id
}

locals {
  image          = var.image != "" ? var.image : "${var.region}-docker.pkg.dev/${var.project_id}/${var.repository_id}/${var.service_name}:${var.image_tag}"
  results_bucket = var.results_bucket_name != "" ? var.results_bucket_name : "${var.project_id}-${var.service_name}-results"
  # Google's own Pub/Sub identity: it dead-letters messages and mints the
  # OIDC tokens of push deliveries.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  apis = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "iam.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "apis" {
  for_each = var.enable_apis ? local.apis : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
