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
  description = "Image reference the service was created with."
  value       = local.image
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
  description = "Push subscription delivering to the service's /pubsub path."
  value       = google_pubsub_subscription.push.name
}
