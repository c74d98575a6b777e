output "service_url" {
  description = "HTTPS URL of the Cloud Run service (IDE at /, POST /execute, GET /healthz)."
  value       = google_cloud_run_v2_service.api.uri
}

output "service_name" {
  description = "Cloud Run service name (the _SERVICE substitution of cloudbuild.yaml)."
  value       = google_cloud_run_v2_service.api.name
}

output "service_account_email" {
  description = "Identity the service runs as."
  value       = google_service_account.service.email
}

output "image_repository" {
  description = "Docker repository to push to: REGION-docker.pkg.dev/PROJECT/REPOSITORY."
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "image" {
  description = "Image the service's latest revision runs, as of the last terraform apply or refresh. Cloud Build deploys each release by commit (...:COMMIT_SHA) and Terraform ignores the image after creation, so run `terraform apply -refresh-only` (or read `gcloud run services describe`) after a release to see the current one."
  value       = google_cloud_run_v2_service.api.template[0].containers[0].image
}

output "initial_image" {
  description = "Image reference Terraform created the service with (var.image, or the image_tag of the repository); later releases replace it."
  value       = local.image
}

output "builder_service_account" {
  description = "Full name of the build identity, for `gcloud builds submit --service-account=...` (manual builds) and the trigger."
  value       = google_service_account.builder.id
}

output "builder_service_account_email" {
  description = "Email of the build identity."
  value       = google_service_account.builder.email
}

output "build_bucket" {
  description = "Bucket for manual builds' source archives (--gcs-source-staging-dir=gs://BUCKET/source) and logs (--gcs-log-dir=gs://BUCKET/logs)."
  value       = google_storage_bucket.build.name
}

output "request_timeout_seconds" {
  description = "Cloud Run request timeout, derived from queue wait + batch maximum + two store calls + margin unless set."
  value       = local.request_timeout_seconds
}

output "ack_deadline_seconds" {
  description = "Ack deadline of the push subscription (at least the request timeout)."
  value       = local.ack_deadline_seconds
}

output "sandbox_sizing" {
  description = "What the server gets from the instance size: MAX_CONCURRENCY slots, MAX_MEMORY_MB per script at most, MEMORY_MB by default."
  value = {
    max_concurrency = local.sandbox_slots
    max_memory_mb   = local.max_job_memory_mb
    memory_mb       = local.default_job_memory_mb
    instance_mib    = local.memory_mib
  }
}

output "results_bucket" {
  description = "Bucket that receives batch results."
  value       = google_storage_bucket.results.name
}

output "results_prefix" {
  description = "Object prefix of batch results."
  value       = var.results_prefix
}

output "topic" {
  description = "Publish scripts here for batch execution."
  value       = google_pubsub_topic.scripts.name
}

output "topic_id" {
  description = "Full id of the batch topic."
  value       = google_pubsub_topic.scripts.id
}

output "dead_letter_topic" {
  description = "Messages that failed max_delivery_attempts times."
  value       = google_pubsub_topic.dead_letter.name
}

output "dead_letter_subscription" {
  description = "Pull subscription for inspecting dead-lettered messages."
  value       = google_pubsub_subscription.dead_letter.name
}

output "push_subscription" {
  description = "Push subscription delivering to the service's /pubsub/projects/PROJECT/topics/TOPIC path."
  value       = google_pubsub_subscription.push.name
}

output "push_endpoint" {
  description = "URL the push subscription delivers to: the service URL + /pubsub/projects/PROJECT/topics/TOPIC (the Functions Framework reads the topic from the path)."
  value       = google_pubsub_subscription.push.push_config[0].push_endpoint
}
