# The identity every build of this service runs as, manual (`gcloud builds
# submit --service-account=...`, terraform/README.md) or triggered. It exists
# whether or not the trigger does, with only what cloudbuild.yaml needs.
resource "google_service_account" "builder" {
  project      = var.project_id
  account_id   = "${var.service_name}-build"
  display_name = "${var.service_name} Cloud Build"
}

# Until the builder existed regardless of the trigger, it and its grants were
# counted resources; these keep existing state instead of replacing them.
moved {
  from = google_service_account.builder[0]
  to   = google_service_account.builder
}

moved {
  from = google_artifact_registry_repository_iam_member.builder_writer[0]
  to   = google_artifact_registry_repository_iam_member.builder_writer
}

moved {
  from = google_cloud_run_v2_service_iam_member.builder_developer[0]
  to   = google_cloud_run_v2_service_iam_member.builder_developer
}

moved {
  from = google_service_account_iam_member.builder_act_as[0]
  to   = google_service_account_iam_member.builder_act_as
}

moved {
  from = google_project_iam_member.builder_logs[0]
  to   = google_project_iam_member.builder_logs
}

resource "google_artifact_registry_repository_iam_member" "builder_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.builder.member
}

resource "google_cloud_run_v2_service_iam_member" "builder_developer" {
  project  = var.project_id
  location = google_cloud_run_v2_service.api.location
  name     = google_cloud_run_v2_service.api.name
  role     = "roles/run.developer"
  member   = google_service_account.builder.member
}

# Deploying a revision that runs as the service account requires actAs on it.
resource "google_service_account_iam_member" "builder_act_as" {
  service_account_id = google_service_account.service.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.builder.member
}

# Build logs (cloudbuild.yaml: CLOUD_LOGGING_ONLY): the only project-level
# grant in this module, and to the builder, never to the service.
resource "google_project_iam_member" "builder_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.builder.member
}

# Where manual builds stage their source (--gcs-source-staging-dir) and, for
# the first `--tag` build, which has no cloudbuild.yaml to choose Cloud
# Logging, their logs (--gcs-log-dir). A build that runs as a user-specified
# account reads its source as that account, so the builder needs this bucket
# rather than the project-wide PROJECT_cloudbuild one.
resource "google_storage_bucket" "build" {
  project  = var.project_id
  name     = local.build_bucket
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  lifecycle_rule {
    condition {
      age = var.build_log_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_iam_member" "builder_build_bucket" {
  bucket = google_storage_bucket.build.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.builder.member
}

# Optional: build, push and deploy on every push to github_branch.
resource "google_cloudbuild_trigger" "main" {
  count = var.enable_build_trigger ? 1 : 0

  project         = var.project_id
  location        = var.region
  name            = "${var.service_name}-main"
  filename        = "cloudbuild.yaml"
  service_account = google_service_account.builder.id

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

  depends_on = [
    google_project_service.apis,
    google_artifact_registry_repository_iam_member.builder_writer,
    google_cloud_run_v2_service_iam_member.builder_developer,
    google_service_account_iam_member.builder_act_as,
    google_project_iam_member.builder_logs,
  ]
}
