package function

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/api/idtoken"
)

// pushAuth decides who may deliver to /pubsub.
type pushAuth interface {
	allowed(r *http.Request) bool
}

// PushOIDC configures PUBSUB_AUTH=oidc: a public service checks each
// push's OIDC token itself (Cloud Run does it for a private one).
type PushOIDC struct {
	// Audience is the token's aud, as the push subscription sets it.
	Audience string
	// Email is the push subscription's service account.
	Email string
	// Validator checks Google's signature; nil uses Google's certificates
	// (tests pass one whose HTTP client serves their own).
	Validator *idtoken.Validator
}

// oidcPush accepts a push only with a token Google signed, for this
// audience, whose verified email is the push service account.
type oidcPush struct {
	v        *idtoken.Validator
	audience string
	email    string
}

func newOIDCPush(ctx context.Context, cfg PushOIDC) (*oidcPush, error) {
	if cfg.Audience == "" || cfg.Email == "" {
		return nil, fmt.Errorf("PUBSUB_AUTH=oidc needs PUBSUB_OIDC_AUDIENCE and PUBSUB_OIDC_EMAIL")
	}
	v := cfg.Validator
	if v == nil {
		var err error
		if v, err = idtoken.NewValidator(ctx); err != nil {
			return nil, fmt.Errorf("OIDC validator: %w", err)
		}
	}
	return &oidcPush{v: v, audience: cfg.Audience, email: cfg.Email}, nil
}

func (o *oidcPush) allowed(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return false
	}
	p, err := o.v.Validate(r.Context(), token, o.audience)
	if err != nil {
		return false
	}
	// Validate checks the signature, audience and expiry, not the issuer.
	if p.Issuer != "https://accounts.google.com" && p.Issuer != "accounts.google.com" {
		return false
	}
	email, _ := p.Claims["email"].(string)
	verified, _ := p.Claims["email_verified"].(bool)
	return verified && email == o.email
}
