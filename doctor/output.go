package doctor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/ecr-updater/ecr-updater/internal/redact"
)

// maxCheckWidth bounds the CHECK column; longer names are cut with "...".
const maxCheckWidth = 48

// WriteText writes the report as a table, one line per check (RESULT, CHECK, and what was found; for a warning
// or failure, the fix after "fix:"), and a summary line. Every known secret is scrubbed from it.
func (r *Report) WriteText(w io.Writer, s *redact.Scrubber) error {
	checks := r.folded()
	width := len("CHECK")
	for _, c := range checks {
		width = max(width, min(utf8.RuneCountInString(c.Check), maxCheckWidth))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%-6s %-*s %s\n", "RESULT", width, "CHECK", "DETAIL")
	for _, c := range checks {
		detail := oneLine(c.Detail)
		if c.Fix != "" {
			detail += " -- fix: " + oneLine(c.Fix)
		}
		fmt.Fprintf(&b, "%-6s %-*s %s\n", c.Result, width, cut(oneLine(c.Check), maxCheckWidth), detail)
	}
	fmt.Fprintf(&b, "\n%d checks: %d ok, %d warn, %d FAIL in %s; exit %d (%s)\n", len(r.Checks), r.Count(OK), r.Count(Warn),
		r.Count(Fail), r.Duration.Round(1e6), r.Exit(), r.verdict())
	_, err := io.WriteString(w, s.Scrub(b.String()))
	return err
}

// folded is the checks with the ok lines of each group of an environment (its in-scope registries, its image
// hosts) folded into one line when there are several: a short table for 50 environments. Warnings and failures
// keep their own lines; --output json keeps every line.
func (r *Report) folded() []Check {
	type key struct{ env, group string }
	items := map[key][]string{}
	for _, c := range r.Checks {
		if c.Result == OK && c.group != "" {
			k := key{c.Env, c.group}
			items[k] = append(items[k], c.item)
		}
	}
	var out []Check
	done := map[key]bool{}
	for _, c := range r.Checks {
		k := key{c.Env, c.group}
		switch {
		case c.Result != OK || c.group == "" || len(items[k]) < 2:
			out = append(out, c)
		case !done[k]:
			done[k] = true
			out = append(out, Check{line: c.foldLine, Check: c.foldAs, Result: OK, Env: c.Env,
				Detail: fmt.Sprintf("%d %s ok: %s (--output json details each)", len(items[k]), c.group, names(items[k]))})
		}
	}
	return out
}

func (r *Report) verdict() string {
	switch r.Exit() {
	case ExitConfig:
		return "the configuration is invalid"
	case ExitFailed:
		return "something would make a pull fail"
	}
	return "all is well"
}

// jsonReport is the --output json document.
type jsonReport struct {
	Status     string  `json:"status"` // "ok", "fail" or "config"
	Exit       int     `json:"exit"`
	DurationMS int64   `json:"duration_ms"`
	Counts     counts  `json:"counts"`
	Checks     []Check `json:"checks"`
}

type counts struct {
	OK   int `json:"ok"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
}

// WriteJSON writes the report as one JSON document, every known secret scrubbed from it.
func (r *Report) WriteJSON(w io.Writer, s *redact.Scrubber) error {
	status := map[int]string{ExitOK: "ok", ExitFailed: "fail", ExitConfig: "config"}[r.Exit()]
	checks := r.Checks
	if checks == nil {
		checks = []Check{}
	}
	b, err := json.MarshalIndent(jsonReport{Status: status, Exit: r.Exit(), DurationMS: r.Duration.Milliseconds(),
		Counts: counts{r.Count(OK), r.Count(Warn), r.Count(Fail)}, Checks: checks}, "", "  ")
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, s.Scrub(string(b))+"\n")
	return err
}

// oneLine keeps a text on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-3]) + "..."
}
