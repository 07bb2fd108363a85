package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDemo runs the demo for two scheduled passes and checks what it prints: every registry with what happened
// to it and why, summaries that add up to the rows and to the updater's own counts, tokens as fingerprints and no
// piece of any password, the event line with its latency, no warning for the short tokens, and a clean exit.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 6 s")
	}
	var w *World
	start := time.Now()
	out, log := runDemo(t, Options{Passes: 2, LogLevel: "debug", OnWorld: func(world *World) { w = world }})
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
	pass1 := rowsOf(t, lines, "Pass 1 (scheduled)")
	pass2 := rowsOf(t, lines, "Pass 2 (scheduled)")
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
			if !strings.Contains(row, "not a token (19 chars), unchanged") || !strings.Contains(row, "untouched: not an ECR registry") {
				t.Errorf("pass 2, Docker Hub: %q", row)
			}
		case !strings.Contains(row, "updated: ECR registry: every scheduled pass rewrites it") || !strings.Contains(row, "yes"):
			t.Errorf("pass 2, registry %s: %q", reg.ID, row)
		}
	}
	if row := find(pass1, "1sp1"); !strings.Contains(row, "not a token (18 chars) -> token ") {
		t.Errorf("pass 1 does not show that a password became a token: %q", row)
	}

	// The added registry: a pass triggered by the event, and its latency.
	m := regexp.MustCompile(`Rancher held a fresh token (\d+) ms later`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no event line:\n%s", text)
	}
	if ms, _ := strconv.Atoi(m[1]); ms >= 3000 {
		t.Errorf("fresh token %d ms after the registry was added, want under 3000", ms)
	}
	if !strings.Contains(text, "written by a pass triggered by the event, not by the schedule") {
		t.Errorf("the event line does not say a pass for the event wrote it:\n%s", text)
	}
	if strings.Contains(strings.ToLower(text), "small pass") {
		t.Errorf("the demo speaks of a small pass, which the updater no longer has:\n%s", text)
	}
	var row string
	for _, p := range passes(t, lines) {
		if strings.HasPrefix(p.title, "Pass (event") && row == "" {
			row = find(p.rows, AddedRegistry)
		}
	}
	if !strings.Contains(row, "not a token (11 chars) -> token ") || !strings.Contains(row, "Rancher reported this registry changed") {
		t.Errorf("no event pass shows the added registry written: %q\n%s", row, text)
	}
	if !strings.Contains(text, "updater.MinSpacing") || !strings.Contains(text, "every 5s") {
		t.Errorf("the demo does not say why passes come 5 s apart:\n%s", text)
	}

	// Masks only: the first 4 characters (at most) and the length; no secret in full, in the tables or the log.
	issued := w.ECR.Issued()
	if len(issued) < 4 {
		t.Fatalf("the ECR stand-in issued %d tokens", len(issued))
	}
	secrets := []string{w.SecretKey, w.AWSSecret, Placeholder, "expired-password-1", "docker-hub-password"}
	for _, is := range issued {
		secrets = append(secrets, is.Password, is.Token)
	}
	for _, s := range secrets {
		for name, b := range map[string]string{"output": text, "log": log.String()} {
			if strings.Contains(b, s) {
				t.Errorf("the %s holds a secret in full (%d characters, starting %.3q)", name, len(s), s)
			}
		}
	}
	// No piece of any password either: no 12 characters in a row of one (a token's fingerprint is 8 hex digits).
	for name, b := range map[string]string{"output": text, "log": log.String()} {
		pieces := map[string]bool{}
		for i := 0; i+12 <= len(b); i++ {
			pieces[b[i:i+12]] = true
		}
		for _, s := range secrets {
			for i := 0; i+12 <= len(s); i++ {
				if pieces[s[i:i+12]] {
					t.Errorf("the %s holds a piece of a secret (%d characters from offset %d)", name, 12, i)
					break
				}
			}
		}
	}
	// Every token shown is the fingerprint of a token ECR issued; a rewrite shows two different ones.
	fingerprints := map[string]bool{}
	for _, is := range issued {
		fingerprints[Fingerprint(is.Password)] = true
	}
	shown := regexp.MustCompile(`token ([0-9a-f]{8})\b`).FindAllStringSubmatch(text, -1)
	if len(shown) < 20 {
		t.Fatalf("only %d token fingerprints in the output", len(shown))
	}
	for _, f := range shown {
		if !fingerprints[f[1]] {
			t.Errorf("fingerprint %s is of no token ECR issued", f[1])
		}
	}
	for _, l := range pass2 {
		if m := regexp.MustCompile(`token ([0-9a-f]{8}) -> token ([0-9a-f]{8})`).FindStringSubmatch(l); m != nil && m[1] == m[2] {
			t.Errorf("pass 2 shows a rewrite as the same token: %q", l)
		}
	}
	if strings.Contains(text, "eyJ") {
		t.Errorf("the output shows the start of a token (eyJ...):\n%s", text)
	}

	// Every pass printed adds up, and says what the updater's own "pass done" line counted.
	checkSums(t, lines, log.String())

	// The 10-second tokens are short on purpose: the demo's log keeps the updater's warning at debug level.
	if strings.Contains(log.String(), "level=warning") || strings.Contains(log.String(), "level=error") {
		t.Errorf("a healthy demo logs warnings:\n%s", log.String())
	}
	if !strings.Contains(log.String(), `level=debug msg="`+shortTokenWarning) {
		t.Errorf("the log at debug level lacks the short-token line:\n%s", log.String())
	}
	if !strings.Contains(text, "short on purpose") {
		t.Errorf("the intro does not explain the short tokens:\n%s", text)
	}
}

// TestDemoQuietByDefault: at the default log level a healthy demo prints no log line (the updater's short-token
// warning included: the demo's tokens are short on purpose).
func TestDemoQuietByDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 1.5 s")
	}
	out, log := runDemo(t, Options{Passes: 1})
	if log.Len() > 0 {
		t.Errorf("the demo logged at the default level:\n%s", log.String())
	}
	checkSums(t, strings.Split(out.String(), "\n"), "")
}

// runDemo runs the demo to its end and returns what it printed and logged.
func runDemo(t *testing.T, o Options) (out, log *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, log = &bytes.Buffer{}, &bytes.Buffer{}
	o.Out, o.Log = out, log
	if err := Run(ctx, o); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	return out, log
}

// pass is one pass as printed: its title, its summary lines and its table rows.
type pass struct {
	title         string
	summary, rows []string
}

// passes splits the output into its passes.
func passes(t *testing.T, lines []string) []pass {
	t.Helper()
	var ps []pass
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "Pass ") {
			continue
		}
		p := pass{title: lines[i]}
		j := i + 1
		for ; j < len(lines) && !strings.HasPrefix(lines[j], "  ENVIRONMENT"); j++ {
			p.summary = append(p.summary, strings.TrimSpace(lines[j]))
		}
		for j++; j < len(lines) && lines[j] != ""; j++ {
			p.rows = append(p.rows, lines[j])
		}
		ps = append(ps, p)
		i = j
	}
	return ps
}

var (
	sumRegistries = regexp.MustCompile(`^registries:  (?:(\d+) in the table = )?(\d+) seen \(listed by Rancher\)(?: \+ (\d+) created by the pass \(DISCOVER_REGISTRIES\))?$`)
	sumSeen       = regexp.MustCompile(`^(\d+) seen = (\d+) in scope \(active ECR registries\) \+ (\d+) untouched \(not ECR, or out of scope\)$`)
	sumCreds      = regexp.MustCompile(`^credentials: (\d+) in the (\d+) registries in scope = (\d+) updated \+ (\d+) created \(the registry had none\) \+ (\d+) left alone \(hold the current token\)$`)
	sumCreated    = regexp.MustCompile(`^(\d+) created = (\d+) in a registry seen \+ (\d+) with the registry the pass created$`)
	passDone      = regexp.MustCompile(`msg="pass done".* created=(\d+) .*in_scope=(\d+) .*seen=(\d+) .*updated=(\d+)`)
)

// checkSums checks, for every pass printed, that the summary adds up and matches the rows of its table (one per
// registry, in the demo's world: one credential each), and, when log holds the updater's "pass done" lines, that
// the summary's counts are the updater's own.
func checkSums(t *testing.T, lines []string, log string) {
	t.Helper()
	ps := passes(t, lines)
	if len(ps) == 0 {
		t.Fatal("no pass printed")
	}
	var done [][]string
	for _, l := range strings.Split(log, "\n") {
		if m := passDone.FindStringSubmatch(l); m != nil {
			done = append(done, m)
		}
	}
	if log != "" && len(done) != len(ps) {
		t.Errorf("%d passes printed, %d \"pass done\" lines logged", len(ps), len(done))
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	for i, p := range ps {
		if len(p.summary) < 4 {
			t.Errorf("%s: summary %q", p.title, p.summary)
			continue
		}
		reg, seen, creds := sumRegistries.FindStringSubmatch(p.summary[0]), sumSeen.FindStringSubmatch(p.summary[1]), sumCreds.FindStringSubmatch(p.summary[2])
		if reg == nil || seen == nil || creds == nil {
			t.Errorf("%s: the summary does not say what it counts:\n%s", p.title, strings.Join(p.summary, "\n"))
			continue
		}
		made, total := n(reg[3]), n(reg[2])
		if reg[1] != "" {
			total = n(reg[1])
		}
		created := n(creds[4])
		if made > 0 {
			c := sumCreated.FindStringSubmatch(p.summary[3])
			if c == nil || n(c[2]) != created || n(c[3]) != made || n(c[1]) != created+made {
				t.Errorf("%s: created does not add up: %q (%d in a registry seen, %d registries created)", p.title, p.summary[3], created, made)
			}
		}
		if last := p.summary[len(p.summary)-1]; last != "nothing skipped, nothing failed" {
			t.Errorf("%s: %q", p.title, last)
		}
		// The arithmetic of the summary itself.
		if total != n(reg[2])+made || n(seen[1]) != n(reg[2]) || n(seen[1]) != n(seen[2])+n(seen[3]) || n(creds[2]) != n(seen[2]) ||
			n(creds[1]) != n(creds[3])+created+n(creds[5]) || n(creds[1]) != n(creds[2]) {
			t.Errorf("%s: the summary does not add up:\n%s", p.title, strings.Join(p.summary, "\n"))
		}
		// The rows: one per registry in the table, each with what became of it, as the summary counts them.
		what := map[string]int{}
		for _, r := range p.rows {
			switch {
			case strings.Contains(r, "created: DISCOVER_REGISTRIES"):
				what["made"]++
			case strings.Contains(r, "created: "):
				what["created"]++
			case strings.Contains(r, "updated: "):
				what["updated"]++
			case strings.Contains(r, "left alone: "):
				what["left alone"]++
			case strings.Contains(r, "untouched: "):
				what["untouched"]++
			default:
				what["other"]++
			}
		}
		want := map[string]int{"made": made, "created": created, "updated": n(creds[3]), "left alone": n(creds[5]), "untouched": n(seen[3])}
		for k, v := range want {
			if what[k] != v {
				t.Errorf("%s: %d rows %s, the summary says %d\n%s", p.title, what[k], k, v, strings.Join(p.rows, "\n"))
			}
		}
		if len(p.rows) != total || what["other"] > 0 {
			t.Errorf("%s: %d rows, the summary says %d registries in the table\n%s", p.title, len(p.rows), total, strings.Join(p.rows, "\n"))
		}
		// The updater's own counts.
		if i < len(done) {
			d := done[i]
			if n(d[1]) != created+made || n(d[2]) != n(seen[2]) || n(d[3]) != n(seen[1]) || n(d[4]) != n(creds[3]) {
				t.Errorf("%s: the updater logged created=%s in_scope=%s seen=%s updated=%s; the summary says\n%s", p.title, d[1], d[2], d[3], d[4],
					strings.Join(p.summary, "\n"))
			}
		}
	}
}

// rowsOf returns the table rows of the first pass whose title starts with title.
func rowsOf(t *testing.T, lines []string, title string) []string {
	for _, p := range passes(t, lines) {
		if strings.HasPrefix(p.title, title) {
			return p.rows
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

// TestMask: an ECR token shows as its fingerprint, anything else as its length; never a piece of either.
func TestMask(t *testing.T) {
	token := base64.StdEncoding.EncodeToString([]byte(`{"payload":"c2VjcmV0","datakey":"a2V5","version":"2","type":"DATA_KEY","expiration":1}`))
	sum := sha256.Sum256([]byte(token))
	for p, want := range map[string]string{
		"placeholder":    "not a token (11 chars)",
		"":               "(empty)",
		"ñandú-pässwörd": "not a token (14 chars)",
		token:            "token " + hex.EncodeToString(sum[:])[:8],
		base64.StdEncoding.EncodeToString([]byte(`{"payload":""}`)):  "not a token (20 chars)",
		base64.StdEncoding.EncodeToString([]byte(`not json at all`)): "not a token (20 chars)",
		"eyJwYXlsb2FkIjoi": "not a token (16 chars)", // base64, but not of a JSON document
	} {
		if got := Mask(p); got != want {
			t.Errorf("Mask(%.20q) = %q, want %q", p, got, want)
		}
	}
	other := base64.StdEncoding.EncodeToString([]byte(`{"payload":"b3RoZXI=","datakey":"a2V5","version":"2","type":"DATA_KEY","expiration":1}`))
	if Mask(token) == Mask(other) {
		t.Errorf("two tokens masked alike: %s", Mask(token))
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
