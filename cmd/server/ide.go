package main

import (
	"fmt"
	"net/http"

	"python-api/client"
)

// ideHandler serves the embedded web IDE. client.Handler panics when the
// build is missing from the binary; a clear start-up error is kinder.
func ideHandler() (h http.Handler, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("embedded IDE: %v", r)
		}
	}()
	return client.Handler(), nil
}
