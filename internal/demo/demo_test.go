package demo

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestDemo runs the demo for two scheduled passes and checks what it prints: every registry with what happened
// to it and why, masked passwords only, the event line with its latency, and a clean exit.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 6 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, log bytes.Buffer
	var w *World
	start := time.Now()
	err := Run(ctx, Options{Passes: 2, Out: &out, Log: &log, LogLevel: "debug", OnWorld: func(world *World) { w = world }})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("the demo took %s for 2 passes", d)
	}
	text := out.String()
	lines := strings.Split(text, "\n")

	// Every registry of the world, with its outcome and reason, in every scheduled pass.
	want := map[string]string{ // server address -> what the table says of it
		"123456789012.dkr.ecr.us-east-1.amazonaws.com": "updated: ECR registry: every scheduled pass rewrites it",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com": "updated: ECR registry: every scheduled pass rewrites it",
		"index.docker.io": "untouched: not an ECR registry",
		"210987654321.dkr.ecr.us-east-1.amazonaws.com": "created: ECR registry without a credential",
		DiscoveredRegistry: "created: DISCOVER_REGISTRIES: service checkout (",
	}
	regs := w.Rancher.Registries("")
	if len(regs) != 8 {
		t.Fatalf("the world has %d registries, want 6, the one discovered for service checkout and the one the demo adds", len(regs))
	}
	pass1 := section(lines, "Pass 1 (scheduled)")
	pass2 := section(lines, "Pass 2 (scheduled)")
	for _, reg := range regs {
		if reg.ServerAddress == AddedRegistry {
			continue // added after pass 1
		}
		row := find(pass1, reg.ID, reg.ServerAddress)
		if row == "" {
			t.Errorf("pass 1 does not show registry %s (%s)", reg.ID, reg.ServerAddress)
			continue
		}
		if w, ok := want[reg.ServerAddress]; ok && !strings.Contains(row, w) {
			t.Errorf("pass 1, registry %s: %q lacks %q", reg.ID, row, w)
		}
	}
	for _, reg := range regs {
		row := find(pass2, reg.ID, reg.ServerAddress)
		switch {
		case row == "":
			t.Errorf("pass 2 does not show registry %s (%s)", reg.ID, reg.ServerAddress)
		case reg.ServerAddress == "index.docker.io":
			if !strings.Contains(row, "dock… (19), unchanged") || !strings.Contains(row, "untouched: not an ECR registry") {
				t.Errorf("pass 2, Docker Hub: %q", row)
			}
		case !strings.Contains(row, "updated: ECR registry: every scheduled pass rewrites it") || !strings.Contains(row, "yes"):
			t.Errorf("pass 2, registry %s: %q", reg.ID, row)
		}
	}
	if row := find(pass1, "1sp1"); !strings.Contains(row, "expi… (18) -> eyJ") {
		t.Errorf("pass 1 does not show the password before -> after: %q", row)
	}

	// The added registry: a small pass triggered by the event, and its latency.
	m := regexp.MustCompile(`Rancher held a fresh token (\d+) ms later`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no event line:\n%s", text)
	}
	if ms, _ := strconv.Atoi(m[1]); ms >= 3000 {
		t.Errorf("fresh token %d ms after the registry was added, want under 3000", ms)
	}
	if !strings.Contains(text, "written by a small pass triggered by the event, not by the schedule") {
		t.Errorf("the event line does not say a small pass wrote it:\n%s", text)
	}
	var row string
	for i, l := range lines {
		if strings.HasPrefix(l, "Small pass (event") && row == "" {
			row = find(section(lines[i:], "Small pass (event"), AddedRegistry)
		}
	}
	if !strings.Contains(row, "plac… (11) -> eyJ") || !strings.Contains(row, "Rancher reported this registry changed") {
		t.Errorf("no small pass shows the added registry written: %q\n%s", row, text)
	}
	if !strings.Contains(text, "updater.MinSpacing") || !strings.Contains(text, "every 5s") {
		t.Errorf("the demo does not say why passes come 5 s apart:\n%s", text)
	}

	// Masks only: the first 4 characters (at most) and the length; no secret in full, in the tables or the log.
	issued := w.ECR.Issued()
	if len(issued) < 4 {
		t.Fatalf("the ECR stand-in issued %d tokens", len(issued))
	}
	lengths := map[int]bool{}
	secrets := []string{w.SecretKey, w.AWSSecret, Placeholder, "expired-password-1", "docker-hub-password"}
	for _, is := range issued {
		secrets = append(secrets, is.Password, is.Token)
		lengths[utf8.RuneCountInString(is.Password)] = true
	}
	for _, s := range secrets {
		for name, b := range map[string]string{"output": text, "log": log.String()} {
			if strings.Contains(b, s) {
				t.Errorf("the %s holds a secret in full (%d characters, starting %.3q)", name, len(s), s)
			}
		}
	}
	masks := regexp.MustCompile(`(\S*)… \((\d+)\)`).FindAllStringSubmatch(text, -1)
	if len(masks) < 20 {
		t.Fatalf("only %d masked passwords in the output", len(masks))
	}
	for _, mk := range masks {
		n, _ := strconv.Atoi(mk[2])
		if utf8.RuneCountInString(mk[1]) > 4 {
			t.Errorf("mask %q shows more than 4 characters", mk[0])
		}
		if mk[1] == "eyJw" && !lengths[n] {
			t.Errorf("mask %q: no issued password has that length", mk[0])
		}
	}
}

// section returns the lines of the first table whose title starts with title.
func section(lines []string, title string) []string {
	for i, l := range lines {
		if strings.HasPrefix(l, title) {
			for j := i + 1; j < len(lines); j++ {
				if lines[j] == "" {
					return lines[i+1 : j]
				}
			}
			return lines[i+1:]
		}
	}
	return nil
}

// find returns the first line holding every one of the words as a field.
func find(lines []string, words ...string) string {
	for _, l := range lines {
		f := strings.Fields(l)
		ok := true
		for _, w := range words {
			ok = ok && contains(f, w)
		}
		if ok {
			return l
		}
	}
	return ""
}

func contains(fields []string, w string) bool {
	for _, f := range fields {
		if f == w {
			return true
		}
	}
	return false
}

func TestMask(t *testing.T) {
	for p, want := range map[string]string{
		"placeholder":    "plac… (11)",
		"":               "(empty)",
		"short":          "… (5)",
		"12345678":       "1234… (8)",
		"ñandú-pässwörd": "ñand… (14)",
	} {
		if got := Mask(p); got != want {
			t.Errorf("Mask(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestSpacing(t *testing.T) {
	for ttl, want := range map[time.Duration]time.Duration{
		10 * time.Second: 5 * time.Second, 2 * time.Second: 5 * time.Second, time.Minute: 30 * time.Second,
	} {
		if got := Spacing(ttl); got != want {
			t.Errorf("Spacing(%s) = %s, want %s", ttl, got, want)
		}
	}
}
