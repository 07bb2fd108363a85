package ecr

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestDecodeToken(t *testing.T) {
	good := []struct{ token, password string }{
		{b64("AWS:secret"), "secret"},
		{b64("AWS:pass:with:colons"), "pass:with:colons"},
		{b64("AWS:" + strings.Repeat("eyJwYXlsb2FkIjoi", 100)), strings.Repeat("eyJwYXlsb2FkIjoi", 100)},
	}
	for _, tc := range good {
		got, err := DecodeToken(tc.token)
		if err != nil || got.Reveal() != tc.password {
			t.Errorf("DecodeToken(%q) = %q, %v", tc.token, got.Reveal(), err)
		}
	}
	bad := []struct{ name, token string }{
		{"empty", ""},
		{"not base64", "not base64!"},
		{"url-safe alphabet", strings.ReplaceAll(b64("AWS:a?b>c"), "/", "_")},
		{"no colon", b64("AWSsecret")},
		{"wrong user", b64("root:secret")},
		{"lower-case user", b64("aws:secret")},
		{"empty password", b64("AWS:")},
		{"newline in password", b64("AWS:sec\nret")},
		{"space in password", b64("AWS:sec ret")},
		{"invalid utf-8", b64("AWS:\xff\xfe")},
		{"only colon", b64(":")},
	}
	for _, tc := range bad {
		pw, err := DecodeToken(tc.token)
		var te *TokenError
		if !errors.As(err, &te) || pw != "" {
			t.Errorf("%s: DecodeToken = %q, %v; want a *TokenError", tc.name, pw.Reveal(), err)
			continue
		}
		// The error never carries the token or the secret part.
		if strings.Contains(err.Error(), "secret") || (tc.token != "" && strings.Contains(err.Error(), tc.token)) {
			t.Errorf("%s: error %q leaks the token", tc.name, err)
		}
	}
}

func TestNewToken(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tok, exp, pe := b64("AWS:pw-123456"), now.Add(12*time.Hour), "https://123456789012.dkr.ecr.us-west-2.amazonaws.com"
	got, err := newToken("us-west-2", &tok, &exp, &pe, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Password.Reveal() != "pw-123456" || got.Registry.Account != "123456789012" || got.Lifetime() != 12*time.Hour {
		t.Errorf("token %+v", got)
	}
	past := now.Add(-time.Second)
	east := "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
	junk := "https://example.com"
	for name, c := range map[string]struct {
		tok *string
		exp *time.Time
		pe  *string
	}{
		"no token":         {nil, &exp, &pe},
		"no expiry":        {&tok, nil, &pe},
		"expired":          {&tok, &past, &pe},
		"other region":     {&tok, &exp, &east},
		"endpoint not ECR": {&tok, &exp, &junk},
	} {
		if _, err := newToken("us-west-2", c.tok, c.exp, c.pe, now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A missing proxyEndpoint is no reason to refuse the token; AUTO_CREATE reports it.
	if got, err := newToken("us-west-2", &tok, &exp, nil, now); err != nil || got.ProxyEndpoint != "" {
		t.Errorf("no proxyEndpoint: %+v %v", got, err)
	}
}

func TestTokenNeverPrints(t *testing.T) {
	now := time.Now()
	tok, exp := b64("AWS:hunter2-password"), now.Add(time.Hour)
	got, err := newToken("us-east-1", &tok, &exp, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{sprint("%v", got), sprint("%+v", got), sprint("%#v", got), sprint("%s", got.Password)} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, tok) {
			t.Errorf("printed token leaks: %s", s)
		}
	}
}

// FuzzDecodeToken checks that decoding never panics, and that whatever it accepts is a printable password
// that really was after "AWS:" in the token.
func FuzzDecodeToken(f *testing.F) {
	for _, s := range []string{b64("AWS:pw"), b64("AWS:"), b64("x:y"), "!!", "", b64("AWS:a:b")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		pw, err := DecodeToken(in)
		if err != nil {
			if pw != "" {
				t.Fatal("password returned with an error")
			}
			if in != "" && len(in) > 8 && strings.Contains(err.Error(), in) {
				t.Fatalf("error leaks the token: %v", err)
			}
			return
		}
		raw, _ := base64.StdEncoding.DecodeString(in)
		if string(raw) != "AWS:"+pw.Reveal() || pw.Empty() {
			t.Fatalf("DecodeToken(%q) = %q", in, pw.Reveal())
		}
	})
}
