# Building and shipping the image: the builder identity, its grants, the
# image repository's cleanup and the outputs the README's commands use.

mock_provider "google" {
  override_during = plan

  mock_resource "google_cloud_run_v2_service" {
    defaults = {
      uri = "https://python-api-abc-uc.a.run.app"
    }
  }

  mock_data "google_project" {
    defaults = {
      number = "123456789"
    }
  }
}

override_resource {
  target          = google_service_account.builder
  override_during = plan
  values = {
    email  = "python-api-build@my-project.iam.gserviceaccount.com"
    member = "serviceAccount:python-api-build@my-project.iam.gserviceaccount.com"
    id     = "projects/my-project/serviceAccounts/python-api-build@my-project.iam.gserviceaccount.com"
    name   = "projects/my-project/serviceAccounts/python-api-build@my-project.iam.gserviceaccount.com"
  }
}

override_resource {
  target          = google_service_account.service
  override_during = plan
  values = {
    email  = "python-api-run@my-project.iam.gserviceaccount.com"
    member = "serviceAccount:python-api-run@my-project.iam.gserviceaccount.com"
    name   = "projects/my-project/serviceAccounts/python-api-run@my-project.iam.gserviceaccount.com"
  }
}

variables {
  project_id = "my-project"
}

# Defect 6: manual builds (no trigger) have an identity with what
# cloudbuild.yaml needs.
run "builder_without_trigger" {
  command = plan

  assert {
    condition     = google_service_account.builder.account_id == "python-api-build"
    error_message = "no builder account without the trigger."
  }
  assert {
    condition     = length(google_cloudbuild_trigger.main) == 0
    error_message = "the trigger is on by default."
  }
  assert {
    condition     = google_artifact_registry_repository_iam_member.builder_writer.member == google_service_account.builder.member && google_artifact_registry_repository_iam_member.builder_writer.role == "roles/artifactregistry.writer"
    error_message = "the builder cannot push images."
  }
  assert {
    condition     = google_cloud_run_v2_service_iam_member.builder_developer.member == google_service_account.builder.member && google_cloud_run_v2_service_iam_member.builder_developer.role == "roles/run.developer" && google_cloud_run_v2_service_iam_member.builder_developer.name == google_cloud_run_v2_service.api.name
    error_message = "the builder cannot deploy revisions of the service."
  }
  assert {
    condition     = google_service_account_iam_member.builder_act_as.member == google_service_account.builder.member && google_service_account_iam_member.builder_act_as.role == "roles/iam.serviceAccountUser" && google_service_account_iam_member.builder_act_as.service_account_id == google_service_account.service.name
    error_message = "the builder cannot deploy revisions that run as the service account."
  }
  assert {
    condition     = google_project_iam_member.builder_logs.member == google_service_account.builder.member && google_project_iam_member.builder_logs.role == "roles/logging.logWriter"
    error_message = "the builder cannot write build logs."
  }
  assert {
    condition     = google_storage_bucket_iam_member.builder_build_bucket.member == google_service_account.builder.member && google_storage_bucket_iam_member.builder_build_bucket.bucket == google_storage_bucket.build.name
    error_message = "the builder cannot read the staged source of a manual build."
  }
  assert {
    condition     = google_storage_bucket.build.name == "my-project-python-api-build" && google_storage_bucket.build.public_access_prevention == "enforced" && google_storage_bucket.build.uniform_bucket_level_access == true
    error_message = "the build bucket is not PROJECT-SERVICE-build, private, with uniform access."
  }
  # What the README passes to `gcloud builds submit`.
  assert {
    condition     = output.builder_service_account == "projects/my-project/serviceAccounts/python-api-build@my-project.iam.gserviceaccount.com"
    error_message = "builder_service_account is not the projects/P/serviceAccounts/EMAIL form --service-account wants."
  }
  assert {
    condition     = output.build_bucket == google_storage_bucket.build.name
    error_message = "build_bucket output is not the build bucket."
  }
}

run "trigger_uses_the_same_builder" {
  command = plan

  variables {
    enable_build_trigger = true
    github_owner         = "example"
    github_repository    = "python-api"
  }

  assert {
    condition     = google_cloudbuild_trigger.main[0].service_account == google_service_account.builder.id
    error_message = "the trigger does not run as the builder account."
  }
  assert {
    condition     = google_cloudbuild_trigger.main[0].filename == "cloudbuild.yaml"
    error_message = "the trigger does not run cloudbuild.yaml."
  }
  assert {
    condition     = google_cloudbuild_trigger.main[0].substitutions == tomap({ _REGION = "us-central1", _REPOSITORY = "python-api", _SERVICE = "python-api" })
    error_message = "the trigger does not fill cloudbuild.yaml's substitutions with this module's names."
  }
}

run "trigger_needs_a_repository" {
  command = plan

  variables {
    enable_build_trigger = true
  }

  expect_failures = [google_cloudbuild_trigger.main]
}

# Defect 9: old images are cleaned up.
run "registry_keeps_the_most_recent_images" {
  command = plan

  variables {
    images_to_keep = 7
  }

  assert {
    condition     = anytrue([for p in google_artifact_registry_repository.images.cleanup_policies : p.action == "KEEP" && anytrue([for m in p.most_recent_versions : m.keep_count == 7])])
    error_message = "no KEEP policy for the images_to_keep most recent versions."
  }
  assert {
    condition     = anytrue([for p in google_artifact_registry_repository.images.cleanup_policies : p.action == "DELETE" && anytrue([for c in p.condition : c.tag_state == "ANY"])])
    error_message = "no DELETE policy: a KEEP policy alone deletes nothing."
  }
  assert {
    condition     = google_artifact_registry_repository.images.cleanup_policy_dry_run == false
    error_message = "the cleanup policies only run dry."
  }
}

# Defect 9: the image output is the service's, not a copy of the tag the
# service was created with. Right after creation both are the same.
run "image_output_is_the_service_image" {
  command = plan

  variables {
    image_tag = "abc123"
  }

  assert {
    condition     = output.image == google_cloud_run_v2_service.api.template[0].containers[0].image
    error_message = "the image output does not read the service."
  }
  assert {
    condition     = output.initial_image == "us-central1-docker.pkg.dev/my-project/python-api/python-api:abc123"
    error_message = "initial_image is not REGION-docker.pkg.dev/PROJECT/REPOSITORY/SERVICE:TAG."
  }
}
