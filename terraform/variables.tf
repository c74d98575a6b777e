variable "project_id" {
  description = "Google Cloud project that receives every resource."
  type        = string
}

variable "region" {
  description = "Region for Cloud Run, Artifact Registry and the results bucket."
  type        = string
  default     = "us-central1"
}

variable "service_name" {
  description = "Cloud Run service name; also names the service accounts, topics and image."
  type        = string
  default     = "python-api"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}$", var.service_name))
    error_message = "service_name must be 3-21 characters of a-z, 0-9 and '-', starting with a letter (service account ids derive from it)."
  }
}

variable "repository_id" {
  description = "Artifact Registry Docker repository id."
  type        = string
  default     = "python-api"
}

variable "image" {
  description = "Full image reference to deploy. Empty means REGION-docker.pkg.dev/PROJECT/REPOSITORY/SERVICE:image_tag."
  type        = string
  default     = ""
}

variable "image_tag" {
  description = "Tag used when image is empty (Cloud Build pushes the commit SHA and latest)."
  type        = string
  default     = "latest"
}

variable "execution_environment" {
  description = "Cloud Run execution environment. Gen2 (microVM) lets the sandbox use namespaces; gen1 (gVisor) makes it fall back to its chroot profile. The image works in both."
  type        = string
  default     = "EXECUTION_ENVIRONMENT_GEN2"

  validation {
    condition     = contains(["EXECUTION_ENVIRONMENT_GEN1", "EXECUTION_ENVIRONMENT_GEN2"], var.execution_environment)
    error_message = "execution_environment must be EXECUTION_ENVIRONMENT_GEN1 or EXECUTION_ENVIRONMENT_GEN2."
  }
}

variable "max_instance_request_concurrency" {
  description = "Requests one instance takes at once. Requests beyond the sandbox's slots wait in its queue or get 429 overloaded, so keep this near slots + queue capacity."
  type        = number
  default     = 10
}

variable "min_instances" {
  description = "Instances kept running (1 keeps a warm pool and avoids cold starts)."
  type        = number
  default     = 0
}

variable "max_instances" {
  description = "Upper bound on instances."
  type        = number
  default     = 5
}

variable "cpu" {
  description = "CPU limit per instance."
  type        = string
  default     = "2"
}

variable "memory" {
  description = "Memory limit per instance; must hold the warm pool plus every running script's memory limit."
  type        = string
  default     = "2Gi"
}

variable "request_timeout_seconds" {
  description = "Cloud Run request timeout. Pub/Sub batch deliveries are requests too, so it must cover batch_max_timeout_seconds."
  type        = number
  default     = 330

  validation {
    condition     = var.request_timeout_seconds >= 1 && var.request_timeout_seconds <= 3600
    error_message = "request_timeout_seconds must be between 1 and 3600."
  }
}

variable "batch_max_timeout_seconds" {
  description = "Longest execution a Pub/Sub batch message may ask for (the server's batch maximum)."
  type        = number
  default     = 300
}

variable "ack_deadline_seconds" {
  description = "Pub/Sub ack deadline for the push subscription: how long Pub/Sub waits for /pubsub to answer before redelivering. Must cover batch_max_timeout_seconds plus start-up and upload time; Pub/Sub allows at most 600."
  type        = number
  default     = 360

  validation {
    condition     = var.ack_deadline_seconds >= 10 && var.ack_deadline_seconds <= 600
    error_message = "ack_deadline_seconds must be between 10 and 600 (Pub/Sub limits)."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message before it goes to the dead-letter topic."
  type        = number
  default     = 5

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100 (Pub/Sub limits)."
  }
}

variable "results_bucket_name" {
  description = "Results bucket name. Empty means PROJECT-SERVICE-results."
  type        = string
  default     = ""
}

variable "results_prefix" {
  description = "Object name prefix under which batch results are written."
  type        = string
  default     = "results/"
}

variable "results_retention_days" {
  description = "Batch results are deleted this many days after they are written."
  type        = number
  default     = 30

  validation {
    condition     = var.results_retention_days >= 1
    error_message = "results_retention_days must be at least 1."
  }
}

variable "force_destroy_bucket" {
  description = "Let terraform destroy delete a bucket that still holds results."
  type        = bool
  default     = false
}

variable "allow_unauthenticated" {
  description = "Grant roles/run.invoker to allUsers. Off by default: callers need an identity token (or put API keys in front with api_keys_secret)."
  type        = bool
  default     = false
}

variable "api_keys_secret" {
  description = "Optional Secret Manager secret id whose latest version holds the comma-separated API_KEYS the server accepts. Empty means no API keys."
  type        = string
  default     = ""
}

variable "extra_env" {
  description = "Further plain environment variables for the server (sandbox tunables from the README's configuration table). Never put secrets here."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Cloud Run deletion protection."
  type        = bool
  default     = true
}

variable "enable_apis" {
  description = "Enable the Google APIs this module uses."
  type        = bool
  default     = true
}

variable "enable_build_trigger" {
  description = "Create a Cloud Build trigger that runs cloudbuild.yaml on pushes to github_branch."
  type        = bool
  default     = false
}

variable "github_owner" {
  description = "GitHub owner of the repository (build trigger only; the Cloud Build GitHub app must be connected)."
  type        = string
  default     = ""
}

variable "github_repository" {
  description = "GitHub repository name (build trigger only)."
  type        = string
  default     = ""
}

variable "github_branch" {
  description = "Branch regex that triggers a build."
  type        = string
  default     = "^main$"
}
