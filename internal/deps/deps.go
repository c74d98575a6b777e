package deps
import (
 _ "github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
 _ "github.com/GoogleCloudPlatform/functions-framework-go/functions"
 _ "github.com/cloudevents/sdk-go/v2"
 _ "cloud.google.com/go/pubsub/v2"
 _ "cloud.google.com/go/storage"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "github.com/hashicorp/hcl/v2"
 _ "github.com/fsouza/fake-gcs-server/fakestorage"
 _ "golang.org/x/sys/unix"
 _ "sigs.k8s.io/yaml"
)
