// Package redact owns secrets in output: Secret, a string that never prints itself, and Scrubber, which replaces
// every known secret value in a log line by a marker before it is written.
//
// Secrets (AWS secret keys and session tokens, Rancher secret keys, ECR passwords and tokens) are typed Secret from
// the moment they are read, so that a log call, an error message or a %v can never show them; only the code that
// puts a secret on the wire calls Reveal. The Scrubber is the second line of defence for what a dependency might
// echo (an error body, a URL with user information).
package redact

import (
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

// maxTracked bounds how many secrets a Scrubber remembers; the oldest ECR passwords are forgotten first.
const maxTracked = 4096

// Scrubber replaces known secret values in text. It is safe for concurrent use.
type Scrubber struct {
	mu      sync.RWMutex
	order   []string
	set     map[string]struct{}
	byLen   []string // set sorted by decreasing length, so a secret that contains another is replaced whole
	changed bool
}

// NewScrubber returns an empty Scrubber.
func NewScrubber() *Scrubber { return &Scrubber{set: map[string]struct{}{}} }

// Add remembers secrets; empty and very short values are ignored.
func (s *Scrubber) Add(secrets ...Secret) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sec := range secrets {
		v := string(sec)
		if len(v) < minScrubLen {
			continue
		}
		if _, ok := s.set[v]; ok {
			continue
		}
		s.set[v] = struct{}{}
		s.order = append(s.order, v)
		s.changed = true
	}
	for len(s.order) > maxTracked {
		delete(s.set, s.order[0])
		s.order = s.order[1:]
	}
}

// Scrub returns text with every known secret replaced by Marker.
func (s *Scrubber) Scrub(text string) string {
	if s == nil {
		return text
	}
	s.mu.RLock()
	changed := s.changed
	s.mu.RUnlock()
	if changed {
		s.mu.Lock()
		if s.changed {
			s.byLen = make([]string, 0, len(s.set))
			for v := range s.set {
				s.byLen = append(s.byLen, v)
			}
			sort.Slice(s.byLen, func(i, j int) bool { return len(s.byLen[i]) > len(s.byLen[j]) })
			s.changed = false
		}
		s.mu.Unlock()
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, v := range s.byLen {
		if strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, Marker)
		}
	}
	return text
}
