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
  description = "Tag used when image is empty, for the service's first revision only: later releases are deployed by Cloud Build by commit SHA, and Terraform ignores the image afterwards."
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
  description = "CPU limit per instance (\"1\", \"2\", \"4\", ... or millicores such as \"1000m\"). The sandbox runs one script per whole CPU at once: MAX_CONCURRENCY = max(1, floor(cpu))."
  type        = string
  default     = "2"

  validation {
    condition     = can(regex("^([0-9]+(\\.[0-9]+)?|[0-9]+m)$", var.cpu))
    error_message = "cpu must be a number of CPUs such as \"2\" or millicores such as \"2000m\"."
  }
}

variable "memory" {
  description = "Memory limit per instance (e.g. \"2Gi\", \"4096Mi\"). The per-script maximum is derived from it: MAX_MEMORY_MB = floor((memory - server_memory_reserve_mb) / MAX_CONCURRENCY)."
  type        = string
  default     = "2Gi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi|M|G)$", var.memory))
    error_message = "memory must be a whole number with a unit Mi, Gi, M or G, such as \"2Gi\" or \"1536Mi\"."
  }
}

variable "server_memory_reserve_mb" {
  description = "Instance memory (MiB) kept out of the scripts' share for the server itself, its fork server with numpy and pandas imported, and NsJail. The rest is split evenly between the sandbox's slots. 512 matches the reserve the server assumes when it checks the same rule at start-up."
  type        = number
  default     = 512

  validation {
    condition     = var.server_memory_reserve_mb >= 256
    error_message = "server_memory_reserve_mb must be at least 256."
  }
}

variable "batch_max_timeout_seconds" {
  description = "Longest execution a Pub/Sub batch message may ask for; the server gets it as BATCH_MAX_TIMEOUT_MS. At least 60 (the server's interactive maximum, MAX_TIMEOUT_MS)."
  type        = number
  default     = 300

  validation {
    condition     = var.batch_max_timeout_seconds >= 60 && floor(var.batch_max_timeout_seconds) == var.batch_max_timeout_seconds
    error_message = "batch_max_timeout_seconds must be a whole number of seconds, at least 60 (the server refuses a batch maximum below MAX_TIMEOUT_MS, 60 s by default)."
  }
}

variable "batch_queue_wait_seconds" {
  description = "How long a Pub/Sub delivery may wait for a free sandbox slot (the server's BATCH_QUEUE_WAIT_MS). Batch requests are not refused for a full queue, since each refusal burns one of the message's delivery attempts: a burst is worked through late rather than dead-lettered. Part of the request timeout."
  type        = number
  default     = 240

  validation {
    condition     = var.batch_queue_wait_seconds >= 1 && floor(var.batch_queue_wait_seconds) == var.batch_queue_wait_seconds
    error_message = "batch_queue_wait_seconds must be a whole number of seconds, at least 1."
  }
}

variable "queue_wait_seconds" {
  description = "How long an interactive (/execute) request may wait for a free sandbox slot before 429 (the server's QUEUE_WAIT_MS)."
  type        = number
  default     = 30

  validation {
    condition     = var.queue_wait_seconds >= 1 && floor(var.queue_wait_seconds) == var.queue_wait_seconds
    error_message = "queue_wait_seconds must be a whole number of seconds, at least 1."
  }
}

variable "results_store_timeout_seconds" {
  description = "Bound on each Cloud Storage call of a batch run (the server's RESULTS_STORE_TIMEOUT). A delivery makes two: the check for an existing result and the write."
  type        = number
  default     = 10

  validation {
    condition     = var.results_store_timeout_seconds >= 1 && floor(var.results_store_timeout_seconds) == var.results_store_timeout_seconds
    error_message = "results_store_timeout_seconds must be a whole number of seconds, at least 1."
  }
}

variable "request_timeout_margin_seconds" {
  description = "Slack added to the request timeout beyond queue wait + batch maximum + two store calls: body read, start-up of the job, the answer."
  type        = number
  default     = 10

  validation {
    condition     = var.request_timeout_margin_seconds >= 0
    error_message = "request_timeout_margin_seconds must not be negative."
  }
}

variable "request_timeout_seconds" {
  description = "Cloud Run request timeout. Null (the default) derives it: batch_queue_wait_seconds + batch_max_timeout_seconds + 2 * results_store_timeout_seconds + request_timeout_margin_seconds (570 s with the defaults). A value set here must be at least that."
  type        = number
  default     = null

  validation {
    condition     = var.request_timeout_seconds == null ? true : (var.request_timeout_seconds >= 1 && var.request_timeout_seconds <= 3600)
    error_message = "request_timeout_seconds must be between 1 and 3600."
  }
}

variable "ack_deadline_seconds" {
  description = "Pub/Sub ack deadline of the push subscription: how long Pub/Sub waits for the delivery's answer before redelivering. Null (the default) makes it the request timeout. It must be at least the request timeout and at most 600 (Pub/Sub's limit), which caps the batch maximum at about 540 s with the other defaults."
  type        = number
  default     = null

  validation {
    condition     = var.ack_deadline_seconds == null ? true : (var.ack_deadline_seconds >= 10 && var.ack_deadline_seconds <= 600)
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
  description = "Grant roles/run.invoker to allUsers. Off by default: callers need an identity token, and Cloud Run checks the OIDC token of every Pub/Sub push (the server gets PUBSUB_AUTH=platform). When public, the server checks each push's token itself (PUBSUB_AUTH=oidc: Google's signature, the module's audience, the push service account)."
  type        = bool
  default     = false
}

variable "api_keys_secret" {
  description = "Optional Secret Manager secret id whose latest version holds the comma-separated API_KEYS the server accepts on /execute. Empty means no API keys. /pubsub never needs one on a private service (PUBSUB_AUTH=platform)."
  type        = string
  default     = ""
}

variable "extra_env" {
  description = "Further plain environment variables for the server (sandbox tunables from the README's configuration table). Never put secrets here. Names this module sets itself (see local.server_env), API_KEYS, SANDBOX_ROOTFS and Cloud Run's reserved names are refused: set the matching variable instead."
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

variable "images_to_keep" {
  description = "Artifact Registry cleanup policy: keep this many most recent versions of each image, delete older ones. Keep it above the number of releases you might roll back to."
  type        = number
  default     = 10

  validation {
    condition     = var.images_to_keep >= 2
    error_message = "images_to_keep must be at least 2."
  }
}

variable "build_log_retention_days" {
  description = "Source archives and logs of builds in the build bucket are deleted this many days after they are written."
  type        = number
  default     = 30

  validation {
    condition     = var.build_log_retention_days >= 1
    error_message = "build_log_retention_days must be at least 1."
  }
}

variable "enable_build_trigger" {
  description = "Create a Cloud Build trigger that runs cloudbuild.yaml on pushes to github_branch. The builder account and its grants exist either way (manual builds use them too)."
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
