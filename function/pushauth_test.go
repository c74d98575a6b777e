package function

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"
)

// googleCerts serves a JWKS in place of Google's certificate endpoint.
type googleCerts struct{ jwks []byte }

func (g googleCerts) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(string(g.jwks))), Request: r}, nil
}

func signToken(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// A public service checks each push's OIDC token itself: only a token
// Google signed, for this audience, from the push service account passes.
func TestPubSubOIDC(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kid": "k1", "kty": "RSA", "alg": "RS256", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}})
	v, err := idtoken.NewValidator(context.Background(), option.WithHTTPClient(&http.Client{Transport: googleCerts{jwks}}))
	if err != nil {
		t.Fatal(err)
	}
	const aud, email = "https://api.example/pubsub/projects/p/topics/t", "push@p.iam.gserviceaccount.com"
	reached := 0
	s, _ := newTestService(t, &fakeExec{}, func(o *Options) {
		o.APIKeys = []string{"a-key-for-execute"}
		o.PubSubAuth, o.PubSubOIDC = "oidc", PushOIDC{Audience: aud, Email: email, Validator: v}
	})
	h := s.GuardPubSub(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reached++ }))
	good := map[string]any{"iss": "https://accounts.google.com", "aud": aud, "email": email, "email_verified": true,
		"sub": "1", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	with := func(k string, val any) map[string]any {
		c := map[string]any{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = val
		return c
	}
	body := `{"message":{"data":"e30=","messageId":"1"},"subscription":"projects/p/subscriptions/s"}`
	for _, c := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", signToken(t, key, "k1", good), true},
		{"no token", "", false},
		{"wrong audience", signToken(t, key, "k1", with("aud", "https://elsewhere")), false},
		{"wrong account", signToken(t, key, "k1", with("email", "someone@p.iam.gserviceaccount.com")), false},
		{"email not verified", signToken(t, key, "k1", with("email_verified", false)), false},
		{"not Google's issuer", signToken(t, key, "k1", with("iss", "https://evil.example")), false},
		{"expired", signToken(t, key, "k1", with("exp", time.Now().Add(-time.Hour).Unix())), false},
		{"another key", signToken(t, other, "k1", good), false},
		{"the API key instead", "a-key-for-execute", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := reached
			req := httptest.NewRequest(http.MethodPost, "/pubsub", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if got := reached > before; got != c.ok {
				t.Fatalf("reached the function: %v, want %v (status %d: %s)", got, c.ok, rec.Code, rec.Body)
			}
			if !c.ok && rec.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", rec.Code)
			}
		})
	}
}
