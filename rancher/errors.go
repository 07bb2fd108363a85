package rancher

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/setting"
)

// ErrRegistryExists is returned (wrapped) by CreateRegistry when Rancher already has a registry with that
// server address in the environment (Cattle's 400 ServerAddressUsed).
var ErrRegistryExists = errors.New("a registry with this server address exists")

// ErrRemoved is returned (wrapped) by UpdateCredential when Rancher's answer shows the credential removed (or
// purging, purged): Cattle finds a resource by id whatever its state, so a PUT on a credential removed since it
// was listed is written and answered 200, and the answer's state is the only sign that it serves no pull.
var ErrRemoved = errors.New("the credential was removed in Rancher meanwhile (Rancher took the write anyway)")

// Error is a failed Rancher request, explained. It never holds a request or response body, and the code that made
// the request scrubs the secrets it sent (the Rancher secret key, the password) out of it before it is returned.
// Its text is cut short when printed.
type Error struct {
	// Status is the HTTP status, 0 when no HTTP answer arrived.
	Status int
	// Code and Message are Cattle's error code and message, when it sent them.
	Code, Message string
	// Hint says what to check, when that is known.
	Hint string
	// Err is the underlying failure when there was no HTTP answer (or it could not be read).
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Status != 0:
		fmt.Fprintf(&b, "rancher answered %d %s", e.Status, http.StatusText(e.Status))
		if e.Code != "" && !sameWords(e.Code, http.StatusText(e.Status)) {
			fmt.Fprintf(&b, " (%s", truncate(e.Code))
			if e.Message != "" && e.Message != e.Code && e.Message != http.StatusText(e.Status) {
				fmt.Fprintf(&b, ": %s", truncate(e.Message))
			}
			b.WriteString(")")
		}
	case e.Err != nil:
		b.WriteString(truncate(e.Err.Error()))
	default:
		b.WriteString("rancher request failed")
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "; %s", e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// sameWords reports whether an error code only repeats the status text (Cattle's generic codes are "Not Found",
// "Method not allowed"; some servers write "NotFound").
func sameWords(code, text string) bool {
	squash := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, " ", "")) }
	return squash(code) == squash(text)
}

// IsNotFound reports whether err says the resource is gone: Rancher's 404, or a write answered with the resource
// removed (ErrRemoved); it was removed between list and write.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound || errors.Is(err, ErrRemoved)
}

// StatusOf returns the HTTP status of a failed request, 0 if there was none.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func hintFor(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "Rancher refused " + setting.AccessKey.String() + " and " + setting.SecretKey.String() + ": check them (a key stops working when its environment or user is removed)"
	case status == http.StatusForbidden:
		return "the API key has no access to this environment"
	case status == http.StatusMethodNotAllowed:
		return "Rancher does not allow this write with this key and URL"
	case status >= 500:
		return "the Rancher server failed; the updater retries"
	}
	return ""
}

// maxErrText bounds how much of an unexpected answer an error message carries.
const maxErrText = 200

// truncate cuts s to maxErrText bytes, at a character boundary.
func truncate(s string) string {
	if len(s) <= maxErrText {
		return s
	}
	i := maxErrText
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// scrub removes secrets from the text of err (an *Error as fromClient makes, or any error): every form in which
// an answer could echo them (plain, JSON-escaped, URL-escaped) becomes redact.Marker. It runs on the whole text,
// before anything cuts it short, so that no part of a secret survives a cut. An error whose text carried a
// secret is replaced by one that holds only the scrubbed text.
func scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	forms := secretForms(secrets)
	if len(forms) == 0 {
		return err
	}
	e, ok := err.(*Error)
	if !ok {
		if t := scrubText(err.Error(), forms); t != err.Error() {
			return errors.New(t)
		}
		return err
	}
	out := *e
	out.Code = scrubText(e.Code, forms)
	out.Message = scrubText(e.Message, forms)
	out.Hint = scrubText(e.Hint, forms)
	if e.Err != nil {
		if t := scrubText(e.Err.Error(), forms); t != e.Err.Error() {
			out.Err = errors.New(t)
		}
	}
	return &out
}

// minSecretLen is the shortest secret scrubbed: shorter values would mangle ordinary words.
const minSecretLen = 4

// secretForms lists the forms of the secrets worth looking for, longest first.
func secretForms(secrets []string) []string {
	var forms []string
	for _, s := range secrets {
		if len(s) < minSecretLen {
			continue
		}
		forms = append(forms, s, url.QueryEscape(s), url.PathEscape(s))
		for _, html := range []bool{true, false} {
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(html)
			_ = enc.Encode(s)
			j := strings.TrimSuffix(strings.TrimPrefix(b.String(), `"`), "\"\n")
			forms = append(forms, j, strings.ReplaceAll(j, "/", `\/`))
		}
	}
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(forms)
}

func scrubText(text string, forms []string) string {
	for _, f := range forms {
		if f != "" && strings.Contains(text, f) {
			text = strings.ReplaceAll(text, f, redact.Marker)
		}
	}
	return text
}

// fromResponse reads a Cattle error body of a non-200 answer.
func fromResponse(status int, body []byte) *Error {
	e := &Error{Status: status, Hint: hintFor(status)}
	var v struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &v) == nil {
		e.Code, e.Message = v.Code, v.Message
	}
	return e
}
