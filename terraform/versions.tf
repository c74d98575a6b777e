terraform {
  # 1.5 for check blocks and cross-object preconditions used below.
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # The 6.x line: google_cloud_run_v2_service with deletion_protection,
      # startup/liveness probes and cpu_idle. 7.x changed defaults; opt in
      # deliberately after reading its upgrade guide.
      version = ">= 6.10.0, < 7.0.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
