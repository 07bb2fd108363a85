package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2-secret")
	type holder struct {
		Name string
		Pass Secret
	}
	h := holder{Name: "x", Pass: s}
	js, _ := json.Marshal(h)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %q %+v %#v", s, s, s, h, h), fmt.Sprintf("%v", &h), string(js)} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if s.Reveal() != "hunter2-secret" || s.Empty() || !Secret("").Empty() || Secret("").String() != "" {
		t.Error("Reveal/Empty/String")
	}
}

func TestScrubber(t *testing.T) {
	sc := NewScrubber()
	sc.Add("abc", "", "password-1", "password-1-longer")
	got := sc.Scrub("a password-1-longer, a password-1, an abc")
	if got != "a [REDACTED], a [REDACTED], an abc" {
		t.Errorf("Scrub = %q", got)
	}
	var nilScrubber *Scrubber
	nilScrubber.Add("whatever")
	if nilScrubber.Scrub("x") != "x" {
		t.Error("nil scrubber")
	}
	// Bounded: the oldest transient secrets are forgotten first; permanent ones never.
	big := NewScrubber()
	big.Add("the-cattle-secret-key")
	for i := 0; i < maxTransient+10; i++ {
		big.AddTransient(Secret(fmt.Sprintf("secret-%06d", i)))
	}
	if big.Scrub("secret-000000") != "secret-000000" || big.Scrub(fmt.Sprintf("secret-%06d", maxTransient+9)) != Marker {
		t.Error("transient secrets are not bounded as documented")
	}
	if big.Scrub("the-cattle-secret-key") != Marker {
		t.Error("a permanent secret was forgotten")
	}
}

func TestScrubberConcurrent(t *testing.T) {
	sc := NewScrubber()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 30; j++ { // 240 in all: fewer than maxTransient, so none is forgotten
				sc.AddTransient(Secret(fmt.Sprintf("concurrent-%d-%d", i, j)))
				_ = sc.Scrub("concurrent-0-0")
			}
		}(i)
	}
	wg.Wait()
	for i := 0; i < 8; i++ {
		for j := 0; j < 30; j++ {
			if v := fmt.Sprintf("concurrent-%d-%d", i, j); sc.Scrub(v) != Marker {
				t.Fatalf("lost %s", v)
			}
		}
	}
}

func TestFormatter(t *testing.T) {
	sc := NewScrubber()
	sc.Add("topsecret-value")
	var buf bytes.Buffer
	l := logrus.New()
	l.Out = &buf
	for _, inner := range []logrus.Formatter{&logrus.TextFormatter{DisableColors: true}, &logrus.JSONFormatter{}} {
		l.SetFormatter(&Formatter{Inner: inner, Scrubber: sc})
		l.WithField("err", "body: topsecret-value").Error("failed with topsecret-value")
	}
	if strings.Contains(buf.String(), "topsecret") || strings.Count(buf.String(), Marker) != 4 {
		t.Errorf("log: %s", buf.String())
	}
}

// TestScrubberJSONEscapedForms: a secret with characters JSON escapes is scrubbed where a JSON log line, a JSON
// error body or /healthz carries it escaped.
func TestScrubberJSONEscapedForms(t *testing.T) {
	s := NewScrubber()
	secret := `pa<ss>&"wo\rd/` + "\t" + `é`
	s.AddTransient(Secret(secret))
	html, _ := json.Marshal(secret) // <, > and & as \u003c, \u003e, \u0026
	var plain strings.Builder
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(secret)
	for _, text := range []string{secret, string(html), plain.String()} {
		line := `{"msg":"rancher answered 422: ` + text + `"}`
		if got := s.Scrub(line); strings.Contains(got, "ss") || !strings.Contains(got, Marker) {
			t.Errorf("%s\nscrubbed to %s", line, got)
		}
	}
}

// TestRename: a Scrubber given names renames what it scrubs, in every line a Formatter writes (text and JSON) and
// in what a Writer writes, after the secrets: a secret that holds a renamed word is replaced whole.
func TestRename(t *testing.T) {
	sc := NewScrubber()
	sc.Add("secret-with-the-word-in-it")
	if sc.Scrub("set the word") != "set the word" {
		t.Error("renamed without names")
	}
	sc.Rename(strings.NewReplacer("the word", "THE_VARIABLE"))
	if got := sc.Scrub("set the word, not secret-with-the-word-in-it"); got != "set THE_VARIABLE, not "+Marker {
		t.Errorf("Scrub = %q", got)
	}
	var buf bytes.Buffer
	l := logrus.New()
	l.Out = &Writer{W: &buf, Scrubber: sc}
	for _, inner := range []logrus.Formatter{&logrus.TextFormatter{DisableColors: true}, &logrus.JSONFormatter{}} {
		l.SetFormatter(&Formatter{Inner: inner, Scrubber: sc})
		l.WithField("hint", "check the word").Warn("the word is wrong")
	}
	if strings.Contains(buf.String(), "the word") || strings.Count(buf.String(), "THE_VARIABLE") != 4 {
		t.Errorf("log:\n%s", buf.String())
	}
}
