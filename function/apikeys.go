package function

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// apiKeys holds digests of the configured keys so that every comparison
// has the same length and takes the same time whichever key matches.
type apiKeys struct {
	digests [][sha256.Size]byte
}

func newAPIKeys(keys []string) *apiKeys {
	a := &apiKeys{}
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" {
			a.digests = append(a.digests, sha256.Sum256([]byte(k)))
		}
	}
	return a
}

func (a *apiKeys) enabled() bool { return len(a.digests) > 0 }

func (a *apiKeys) allowed(r *http.Request) bool {
	if !a.enabled() {
		return true
	}
	presented := r.Header.Get("X-API-Key")
	if auth := r.Header.Get("Authorization"); presented == "" && len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") {
		presented = strings.TrimSpace(auth[7:])
	}
	if presented == "" {
		return false
	}
	d := sha256.Sum256([]byte(presented))
	match := 0
	for i := range a.digests {
		match |= subtle.ConstantTimeCompare(d[:], a.digests[i][:])
	}
	return match == 1
}
