package ecr

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/ecr-updater/ecr-updater/internal/redact"
)

// User is the user name of every ECR authorization token.
const User = "AWS"

// Token is a validated ECR authorization token for one region.
type Token struct {
	// Region the token was issued in; it is valid for every registry of that region the principal may access.
	Region string
	// Password is what a registry credential needs, with User as the user name.
	Password redact.Secret
	// Raw is the authorizationToken as ECR sent it (base64 of "AWS:<password>"), kept only to be scrubbed from output.
	Raw redact.Secret
	// IssuedAt is when the answer arrived; ExpiresAt when ECR says the token stops working.
	IssuedAt, ExpiresAt time.Time
	// ProxyEndpoint is the registry URL of the caller's own account in this region ("" if ECR sent none), and
	// Registry its parsed host (zero if none).
	ProxyEndpoint string
	Registry      Registry
}

// Lifetime is how long the token was valid for when it was issued.
func (t Token) Lifetime() time.Duration { return t.ExpiresAt.Sub(t.IssuedAt) }

// TokenError says why an authorizationToken was refused. It never contains the token or any part of it.
type TokenError struct{ Reason string }

func (e *TokenError) Error() string { return "invalid ECR authorization token: " + e.Reason }

// DecodeToken decodes an authorizationToken (base64 of "AWS:<password>") and validates it: it must be
// base64, the user must be AWS, the password must be non-empty and printable. The password is split off at the
// first colon only, so a password may itself contain colons.
func DecodeToken(authorizationToken string) (redact.Secret, error) {
	if authorizationToken == "" {
		return "", &TokenError{Reason: "it is empty"}
	}
	raw, err := base64.StdEncoding.DecodeString(authorizationToken)
	if err != nil {
		return "", &TokenError{Reason: "it is not base64"}
	}
	user, password, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", &TokenError{Reason: "it has no user:password separator"}
	}
	if user != User {
		return "", &TokenError{Reason: fmt.Sprintf("its user is not %s (%d bytes before the colon)", User, len(user))}
	}
	if password == "" {
		return "", &TokenError{Reason: "its password is empty"}
	}
	for _, r := range password {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return "", &TokenError{Reason: "its password has spaces, control characters or invalid UTF-8"}
		}
	}
	return redact.Secret(password), nil
}

// errNoData is returned when ECR answers without any authorization data.
var errNoData = errors.New("ECR answered without authorizationData")

// newToken validates one authorizationData entry as it arrived at now.
func newToken(region string, token *string, expiresAt *time.Time, proxyEndpoint *string, now time.Time) (Token, error) {
	if token == nil {
		return Token{}, &TokenError{Reason: "ECR sent no authorizationToken"}
	}
	password, err := DecodeToken(*token)
	if err != nil {
		return Token{}, err
	}
	t := Token{Region: region, Password: password, Raw: redact.Secret(*token), IssuedAt: now}
	if expiresAt == nil || expiresAt.IsZero() {
		return Token{}, &TokenError{Reason: "ECR sent no expiresAt"}
	}
	t.ExpiresAt = *expiresAt
	if !t.ExpiresAt.After(now) {
		return Token{}, &TokenError{Reason: fmt.Sprintf("it expired at %s, before it arrived", t.ExpiresAt.UTC().Format(time.RFC3339))}
	}
	if proxyEndpoint != nil && *proxyEndpoint != "" {
		reg, err := ParseServerAddress(*proxyEndpoint)
		if err != nil {
			return Token{}, &TokenError{Reason: fmt.Sprintf("its proxyEndpoint %q is not an ECR registry", *proxyEndpoint)}
		}
		if reg.Region != region {
			return Token{}, &TokenError{Reason: fmt.Sprintf("its proxyEndpoint %q is not in region %s", *proxyEndpoint, region)}
		}
		t.ProxyEndpoint, t.Registry = *proxyEndpoint, reg
	}
	return t, nil
}
