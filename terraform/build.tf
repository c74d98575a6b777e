# Optional: build, push and deploy on every push to github_branch. The
# builder gets its own account with only what cloudbuild.yaml needs.
resource "google_service_account" "builder" {
  count = var.enable_build_trigger ? 1 : 0

  project      = var.project_id
  account_id   = "${var.service_name}-build"
  display_name = "${var.service_name} Cloud Build"
}

resource "google_artifact_registry_repository_iam_member" "builder_writer" {
  count = var.enable_build_trigger ? 1 : 0

  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.builder[0].member
}

resource "google_cloud_run_v2_service_iam_member" "builder_developer" {
  count = var.enable_build_trigger ? 1 : 0

  project  = var.project_id
  location = google_cloud_run_v2_service.api.location
  name     = google_cloud_run_v2_service.api.name
  role     = "roles/run.developer"
  member   = google_service_account.builder[0].member
}

# Deploying a revision that runs as the service account requires actAs on it.
resource "google_service_account_iam_member" "builder_act_as" {
  count = var.enable_build_trigger ? 1 : 0

  service_account_id = google_service_account.service.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.builder[0].member
}

# Build logs: the only project-level grant in this module, and to the
# builder, never to the service.
resource "google_project_iam_member" "builder_logs" {
  count = var.enable_build_trigger ? 1 : 0

  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.builder[0].member
}

resource "google_cloudbuild_trigger" "main" {
  count = var.enable_build_trigger ? 1 : 0

  project         = var.project_id
  location        = var.region
  name            = "${var.service_name}-main"
  filename        = "cloudbuild.yaml"
  service_account = google_service_account.builder[0].id

  github {
    owner = var.github_owner
    name  = var.github_repository
    push {
      branch = var.github_branch
    }
  }

  substitutions = {
    _REGION     = var.region
    _REPOSITORY = google_artifact_registry_repository.images.repository_id
    _SERVICE    = google_cloud_run_v2_service.api.name
  }

  lifecycle {
    precondition {
      condition     = var.github_owner != "" && var.github_repository != ""
      error_message = "enable_build_trigger needs github_owner and github_repository."
    }
  }

  depends_on = [google_project_service.apis]
}
