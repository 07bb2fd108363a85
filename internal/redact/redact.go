// Package redact owns secrets in output: Secret, a string that never prints itself, and Scrubber, which replaces
// every known secret value in a log line by a marker before it is written.
//
// Secrets (AWS secret keys and session tokens, Rancher secret keys, ECR passwords and tokens) are typed Secret from
// the moment they are read, so that a log call, an error message or a %v can never show them; only the code that
// puts a secret on the wire calls Reveal. The Scrubber is the second line of defence for what a dependency might
// echo (an error body, a URL with user information).
//
// Every text that leaves the process passes a Scrubber (log lines, messages, doctor's report, the health
// answers), which makes it the place where main.go also installs its names for the words the packages write
// (Rename: the settings' variables for their neutral words); the Scrubber knows nothing of what they mean.
package redact

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"sync"
)

// Marker replaces a secret wherever it would be printed.
const Marker = "[REDACTED]"

// Secret is a string that prints as Marker in every fmt verb, in JSON and in text marshalling.
type Secret string

// Reveal returns the secret itself; call it only where the secret goes on the wire.
func (s Secret) Reveal() string { return string(s) }

// Empty reports whether the secret is empty.
func (s Secret) Empty() bool { return s == "" }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Marker
}

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return `redact.Secret("` + s.String() + `")` }

// MarshalText implements encoding.TextMarshaler (and so JSON and logrus field output).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// minScrubLen is the shortest value the Scrubber replaces: shorter strings would mangle ordinary words.
const minScrubLen = 6

// maxTransient bounds how many transient secrets (ECR passwords and tokens) a Scrubber remembers; the oldest
// are forgotten first. A pass adds two per region, so this covers weeks of passes, long after those passwords
// expired, while keeping the cost of scrubbing a line small.
const maxTransient = 256

// Scrubber replaces known secret values in text. It is safe for concurrent use.
type Scrubber struct {
	mu        sync.RWMutex
	permanent map[string]struct{}
	transient []string // oldest first
	byLen     []string // every secret, longest first, so a secret that contains another is replaced whole
	names     *strings.Replacer
}

// NewScrubber returns an empty Scrubber.
func NewScrubber() *Scrubber { return &Scrubber{permanent: map[string]struct{}{}} }

// Add remembers secrets for the life of the Scrubber (keys read at start); empty and very short values are
// ignored.
func (s *Scrubber) Add(secrets ...Secret) { s.add(true, secrets) }

// AddTransient remembers secrets that are replaced over time (ECR passwords); only the newest maxTransient are
// kept.
func (s *Scrubber) AddTransient(secrets ...Secret) { s.add(false, secrets) }

func (s *Scrubber) add(permanent bool, secrets []Secret) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, sec := range secrets {
		for _, v := range forms(string(sec)) {
			if len(v) < minScrubLen || s.known(v) {
				continue
			}
			changed = true
			if permanent {
				s.permanent[v] = struct{}{}
			} else {
				s.transient = append(s.transient, v)
			}
		}
	}
	if n := len(s.transient) - maxTransient; n > 0 {
		s.transient = append(s.transient[:0:0], s.transient[n:]...)
	}
	if changed {
		s.byLen = s.byLen[:0:0]
		for v := range s.permanent {
			s.byLen = append(s.byLen, v)
		}
		s.byLen = append(s.byLen, s.transient...)
		sort.Slice(s.byLen, func(i, j int) bool { return len(s.byLen[i]) > len(s.byLen[j]) })
	}
}

// forms are the ways a secret can appear in output: as itself, and as it stands inside a JSON string (encoding/json
// escapes quotes, backslashes and control characters, and by default <, > and & as \u003c, \u003e, \u0026).
func forms(v string) []string {
	out := []string{v}
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(v) != nil {
			continue
		}
		e := strings.TrimSuffix(b.String(), "\n")
		e = e[1 : len(e)-1]
		if e != v && e != out[len(out)-1] {
			out = append(out, e)
		}
	}
	return out
}

func (s *Scrubber) known(v string) bool {
	if _, ok := s.permanent[v]; ok {
		return true
	}
	for _, t := range s.transient {
		if t == v {
			return true
		}
	}
	return false
}

// Rename makes Scrub rename, after the secrets are replaced, what names replaces (main.go: the settings' neutral
// words by their variables).
func (s *Scrubber) Rename(names *strings.Replacer) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names = names
}

// Scrub returns text with every known secret replaced by Marker, then renamed (Rename).
func (s *Scrubber) Scrub(text string) string {
	if s == nil {
		return text
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, v := range s.byLen {
		if strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, Marker)
		}
	}
	if s.names != nil {
		text = s.names.Replace(text)
	}
	return text
}
