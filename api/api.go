// Package api holds the OpenAPI document of the HTTP contract. It is
// checked against the handlers' status table (api_test.go) and against
// the live server by schemathesis (function/e2e).
package api

import _ "embed"

// OpenAPI is openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
