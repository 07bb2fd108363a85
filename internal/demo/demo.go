// Package demo runs the real updater loop against the built-in Rancher and ECR stand-ins, so that a newcomer
// sees what ecr-updater does without an AWS account or a Rancher server: two environments, ECR registries in two
// regions, a Docker Hub registry and a registry without a credential, short-lived tokens, and a table per pass of
// what changed.
package demo

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/plan"
	"github.com/ecr-updater/ecr-updater/rancher"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
	"github.com/ecr-updater/ecr-updater/updater"
)

// DefaultTokenTTL is the lifetime of the stand-in's tokens when Options.TokenTTL is zero: a pass every 5 s.
const DefaultTokenTTL = 10 * time.Second

// Options configure a demo run.
type Options struct {
	// Passes stops the demo after this many passes; 0 runs until ctx is done.
	Passes int
	// TokenTTL is the lifetime of the stand-in's tokens; 0 means DefaultTokenTTL.
	TokenTTL time.Duration
	// Out receives the tables, Log the updater's log lines (at LogLevel, "warn" when empty).
	Out, Log io.Writer
	LogLevel string
	// OnWorld, when set, is called with the stand-ins once they run (tests look at what they store and issued).
	OnWorld func(*World)
}

const (
	account      = "123456789012"
	otherAccount = "210987654321"
)

func host(account, region string) string { return account + ".dkr.ecr." + region + ".amazonaws.com" }

// World is the demo's Rancher and ECR: stand-ins with sample data.
type World struct {
	Rancher *ranchertest.Server
	ECR     *ecrtest.Server
	// Envs are the ids of the two environments.
	Envs []string
	// AccessKey and SecretKey are the Rancher account key; AWSKeyID and AWSSecret the IAM key.
	AccessKey, SecretKey, AWSKeyID, AWSSecret string
}

// NewWorld starts the stand-ins: environment "Default" with ECR registries in us-east-1 and eu-west-1, a Docker
// Hub registry and an ECR registry of a second account without any credential, and a service running a Docker Hub
// image; environment "Windows" with an ECR registry in us-east-1 and one in eu-west-1, and a service whose ECR
// image (in ap-southeast-2) has no registry: nobody added it (DISCOVER_REGISTRIES creates it).
func NewWorld(ttl time.Duration) *World {
	w := &World{
		Rancher:   ranchertest.New(ranchertest.Options{}),
		ECR:       ecrtest.New(ecrtest.Options{TokenTTL: ttl}),
		AccessKey: "DEMOACCESSKEY0000001", SecretKey: "demo-rancher-secret-key-0000000000000001",
		AWSKeyID: "AKIADEMO000000000001", AWSSecret: "demo-aws-secret-access-key-000000000001",
	}
	w.ECR.AddKey(w.AWSKeyID, w.AWSSecret, account)
	def := w.Rancher.AddEnvironment("Default")
	win := w.Rancher.AddEnvironment("Windows")
	w.Envs = []string{def, win}
	w.Rancher.AddAccountKey(w.AccessKey, w.SecretKey, true)

	r := w.Rancher.AddRegistry(def, host(account, "us-east-1"), "active")
	w.Rancher.AddCredential(def, r, "AWS", "expired-password-1", "active")
	r = w.Rancher.AddRegistry(def, host(account, "eu-west-1"), "active")
	w.Rancher.AddCredential(def, r, "AWS", "expired-password-2", "active")
	r = w.Rancher.AddRegistry(def, "index.docker.io", "active")
	w.Rancher.AddCredential(def, r, "dockeruser", "docker-hub-password", "active")
	w.Rancher.AddRegistry(def, host(otherAccount, "us-east-1"), "active")

	r = w.Rancher.AddRegistry(win, host(account, "us-east-1"), "active")
	w.Rancher.AddCredential(win, r, "AWS", "expired-password-3", "active")
	r = w.Rancher.AddRegistry(win, host(account, "eu-west-1"), "active")
	w.Rancher.AddCredential(win, r, "AWS", "expired-password-4", "active")

	w.Rancher.AddService(def, "cache", "redis:7")
	w.Rancher.AddService(win, "checkout", DiscoveredRegistry+"/checkout:7")
	return w
}

// Close stops the stand-ins.
func (w *World) Close() {
	w.Rancher.Close()
	w.ECR.Close()
}

// Config is an updater configuration for this world, serving every environment with the account key.
func (w *World) Config(log logrus.FieldLogger) updater.Config {
	return updater.Config{
		Rules:        updater.Rules{HomeRegion: "us-east-1", Discover: true},
		Environments: []string{"all"},
		Rancher:      rancher.Options{Endpoint: rancher.Endpoint{Origin: w.Rancher.URL}, AccessKey: w.AccessKey, SecretKey: redact.Secret(w.SecretKey)},
		ECR: ecr.Config{HomeRegion: "us-east-1", Endpoint: w.ECR.URL, Timeout: 10 * time.Second,
			Credentials: credentials.NewStaticCredentialsProvider(w.AWSKeyID, w.AWSSecret, "")},
		Log: log,
	}
}

// Placeholder is the password of the registry the demo adds while it runs, as an operator would type it in the
// Rancher UI.
const Placeholder = "placeholder"

// addedAccount is the account of the registry the demo adds while it runs (in us-east-1, whose token the updater
// holds already).
const addedAccount = "345678901234"

// DiscoveredRegistry is the ECR registry a service of "Windows" uses and nobody added.
var DiscoveredRegistry = host(account, "ap-southeast-2")

// AddedRegistry is the serverAddress of the registry the demo adds while it runs.
var AddedRegistry = host(addedAccount, "us-east-1")

// Spacing is the time between two scheduled passes for tokens of this lifetime: half the lifetime, but never less
// than the updater's floor (updater.MinSpacing).
func Spacing(ttl time.Duration) time.Duration { return max(ttl/2, updater.MinSpacing) }

// Run runs the demo until ctx is done or the passes are done. Passes counts scheduled passes; the passes the event
// streams trigger (kind event) are printed too. After the first scheduled pass, once both event streams are up, it
// adds an ECR registry with the password Placeholder to environment Default and prints how long Rancher took to
// hold a fresh token for it.
func Run(ctx context.Context, o Options) error {
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	level, err := logrus.ParseLevel(strings.ToLower(o.LogLevel))
	if err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	w := NewWorld(o.TokenTTL)
	defer w.Close()
	// Cattle publishes changes once a second; the stand-in does the same.
	w.Rancher.SetEventOptions(ranchertest.EventOptions{BatchInterval: time.Second})
	if o.OnWorld != nil {
		o.OnWorld(w)
	}

	scrubber := redact.NewScrubber()
	scrubber.Add(redact.Secret(w.SecretKey), redact.Secret(w.AWSSecret))
	log := logrus.New()
	log.Out = o.Log
	log.SetLevel(level)
	log.SetFormatter(quietShortTokens{debug: level >= logrus.DebugLevel,
		Formatter: &redact.Formatter{Inner: &logrus.TextFormatter{DisableColors: true, FullTimestamp: true}, Scrubber: scrubber}})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := w.Config(log)
	cfg.Scrubber = scrubber
	cfg.Events = true
	r := &run{w: w, o: o, rules: cfg.Rules, scrub: scrubber, out: o.Out, ctx: ctx, cancel: cancel,
		known: map[string]string{}, resynced: map[string]bool{}}
	for _, c := range w.Rancher.Credentials("") {
		r.known[c.ID] = c.SecretValue
	}
	r.intro()
	cfg.OnPass = r.onPass
	u, err := updater.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer u.Close()
	err = u.Run(ctx)
	r.wg.Wait()
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if o.Passes > 0 && r.scheduled < o.Passes {
		return fmt.Errorf("interrupted after %d of %d passes", r.scheduled, o.Passes)
	}
	return nil
}

// run is the state of one demo run. mu guards its fields and the output.
type run struct {
	w      *World
	o      Options
	rules  updater.Rules
	scrub  *redact.Scrubber
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	out        io.Writer
	known      map[string]string // credential id -> its password as of the last table
	scheduled  int               // scheduled passes so far
	lastFull   time.Time         // start of the last scheduled pass
	resynced   map[string]bool   // environments that had an event pass since their stream connected
	injecting  bool
	added      *added
	eventNoted bool // the event line was printed
}

// added is the registry the demo adds while it runs, and when Rancher held a fresh token for it.
type added struct {
	env, registryID, credentialID, region string
	at                                    time.Time
	done                                  chan struct{} // closed once fresh, or once the wait gave up

	mu      sync.Mutex
	freshAt time.Time // zero until fresh
}

func (a *added) fresh() (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.freshAt, !a.freshAt.IsZero()
}

// freshWait bounds how long the demo waits for the added registry to get a fresh token.
const freshWait = 10 * time.Second

func (r *run) intro() {
	w, ttl := r.w, r.o.TokenTTL
	fmt.Fprintf(r.out, "ecr-updater demo: Rancher stand-in at %s, ECR stand-in at %s, tokens live %s.\n", w.Rancher.URL, w.ECR.URL, ttl)
	fmt.Fprintf(r.out, "Environments %s (Default) and %s (Windows); the updater uses one account key for both, and follows\n", w.Envs[0], w.Envs[1])
	fmt.Fprintf(r.out, "each environment's event stream (EVENTS=true; the stand-in publishes changes once a second, like Rancher).\n")
	half, floor := ttl/2, updater.MinSpacing
	switch {
	case half > floor:
		fmt.Fprintf(r.out, "Scheduled passes come every %s: half the token lifetime, so credentials are rewritten long before they expire.\n", Spacing(ttl))
	case half == floor:
		fmt.Fprintf(r.out, "Scheduled passes come every %s: half the %s token lifetime, which is also the updater's floor: it never\n", half, ttl)
		fmt.Fprintf(r.out, "starts two passes less than %s apart (updater.MinSpacing). ECR's real tokens live 12 h: a pass every 6 h.\n", floor)
	default:
		fmt.Fprintf(r.out, "Scheduled passes come every %s, not every %s (half the %s token lifetime): the updater never starts\n", floor, half, ttl)
		fmt.Fprintf(r.out, "two passes less than %s apart (updater.MinSpacing). ECR's real tokens live 12 h: a pass every 6 h.\n", floor)
	}
	if ttl < updater.ShortLifetime {
		fmt.Fprintf(r.out, "The daemon warns of tokens that live less than %g minutes; the demo's are short on purpose, so its log shows\n", updater.ShortLifetime.Minutes())
		fmt.Fprintf(r.out, "that warning only at debug level (--log-level debug).\n")
	}
	fmt.Fprintf(r.out, "Service checkout in Windows runs %s/checkout:7, but nobody added that registry:\n", DiscoveredRegistry)
	fmt.Fprintf(r.out, "with DISCOVER_REGISTRIES=true the first pass creates it, with a fresh credential.\n")
	fmt.Fprintf(r.out, "Each pass prints what it counted (the updater's own counts: registries seen, in scope, and the credentials\n")
	fmt.Fprintf(r.out, "updated, created and left alone), how they add up, then one row per registry and what became of it.\n")
	fmt.Fprintf(r.out, "No password is printed: an ECR token shows as \"token\" and a fingerprint, the first 8 hex digits of its SHA-256\n")
	fmt.Fprintf(r.out, "(two tokens differ, and nothing of either can be read from it); any other password as its length (%q).\n\n", Mask(Placeholder))
}

// Mask shows a password without any piece of it. An ECR token (the base64 of a JSON document with a payload and a
// data key, as ECR issues them) shows as "token" and a fingerprint: the first 8 hex digits of the SHA-256 of the
// password, which differ between two tokens and tell nothing of either. Any other password (an operator's
// placeholder, an expired password, a Docker Hub password) shows as "not a token" and its length: a fingerprint of
// a short password would let anyone try guesses against it.
func Mask(p string) string {
	if p == "" {
		return "(empty)"
	}
	if !isECRPassword(p) {
		return fmt.Sprintf("not a token (%d chars)", utf8.RuneCountInString(p))
	}
	return "token " + Fingerprint(p)
}

// Fingerprint is the first 8 hex digits of the SHA-256 of a password.
func Fingerprint(p string) string {
	sum := sha256.Sum256([]byte(p))
	return hex.EncodeToString(sum[:4])
}

// isECRPassword reports whether p is shaped like an ECR password: the base64 of a JSON object whose payload and
// datakey are strings.
func isECRPassword(p string) bool {
	raw, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return false
	}
	var doc struct {
		Payload *string `json:"payload"`
		DataKey *string `json:"datakey"`
	}
	return json.Unmarshal(raw, &doc) == nil && doc.Payload != nil && doc.DataKey != nil && *doc.Payload != "" && *doc.DataKey != ""
}

// shortTokenWarning starts the updater's warning of a token that lives less than updater.ShortLifetime.
const shortTokenWarning = "ECR token lives less than "

// quietShortTokens demotes the updater's warning of a short-lived token to debug: the demo's tokens are short on
// purpose (the intro says so), so the warning, which the daemon keeps for real deployments, would read as an error
// here. debug says whether the log shows debug lines.
type quietShortTokens struct {
	logrus.Formatter
	debug bool
}

func (f quietShortTokens) Format(e *logrus.Entry) ([]byte, error) {
	if e.Level != logrus.WarnLevel || !strings.HasPrefix(e.Message, shortTokenWarning) {
		return f.Formatter.Format(e)
	}
	if !f.debug {
		return nil, nil
	}
	d := *e
	d.Level = logrus.DebugLevel
	return f.Formatter.Format(&d)
}

func (r *run) onPass(res *updater.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	event := res.Kind == updater.PassEvent
	if res.Kind == updater.PassScheduled {
		r.scheduled++
		r.lastFull = res.Start
	}
	r.printPass(res)
	if event {
		for _, e := range res.Envs {
			r.resynced[e.ID] = true
		}
	}
	if a := r.added; a != nil && !r.eventNoted && wrote(res, a.credentialID) {
		select { // the poller notices within milliseconds of the write; the pass reports after its last write
		case <-a.done:
		case <-time.After(time.Second):
		}
		r.noteEvent(a, res)
	}
	if res.Kind == updater.PassScheduled && !r.injecting {
		r.injecting = true
		r.wg.Add(1)
		go r.inject()
	}
	if r.o.Passes > 0 && r.scheduled >= r.o.Passes && r.settled() {
		r.cancel()
	}
}

// settled reports whether the added registry's story is told (or given up on).
func (r *run) settled() bool {
	if r.eventNoted {
		return true
	}
	if r.added == nil {
		return false
	}
	select {
	case <-r.added.done:
		_, ok := r.added.fresh()
		return !ok
	default:
		return false
	}
}

func wrote(res *updater.Result, credentialID string) bool {
	for _, e := range res.Envs {
		for _, wr := range e.Writes {
			if wr.CredentialID == credentialID && wr.Err == nil {
				return true
			}
		}
	}
	return false
}

// inject waits until both event streams are up and caught up, adds an ECR registry with the password Placeholder
// to environment Default, and waits until Rancher holds a fresh token for it.
func (r *run) inject() {
	defer r.wg.Done()
	w := r.w
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		ready := w.Rancher.Subscribers("") >= len(w.Envs) && len(r.resynced) >= len(w.Envs)
		r.mu.Unlock()
		if ready {
			break
		}
		if !sleep(r.ctx, 20*time.Millisecond) {
			return
		}
	}
	if !sleep(r.ctx, 300*time.Millisecond) {
		return
	}

	r.mu.Lock()
	env := w.Envs[0]
	reg := w.Rancher.AddRegistry(env, AddedRegistry, "active")
	cred := w.Rancher.AddCredential(env, reg, ecr.User, Placeholder, "active")
	a := &added{env: env, registryID: reg, credentialID: cred, region: "us-east-1", at: time.Now(), done: make(chan struct{})}
	r.added = a
	r.known[cred] = Placeholder
	fmt.Fprintf(r.out, "%s  Someone adds registry %s (%s) to %s (Default) in Rancher, with credential %s: user %s and a password typed by hand, %s.\n",
		a.at.Format(timeFormat), reg, AddedRegistry, env, cred, ecr.User, Mask(Placeholder))
	fmt.Fprintf(r.out, "              Rancher reports the change on the event stream within a second; no scheduled pass is due.\n\n")
	r.mu.Unlock()

	defer close(a.done)
	for time.Since(a.at) < freshWait {
		latest := ""
		for _, is := range w.ECR.Issued() {
			if is.Region == a.region {
				latest = is.Password
			}
		}
		if c, ok := w.Rancher.Credential(cred); ok && latest != "" && c.SecretValue == latest && c.PublicValue == ecr.User {
			a.mu.Lock()
			a.freshAt = time.Now()
			a.mu.Unlock()
			return
		}
		if !sleep(r.ctx, 2*time.Millisecond) {
			return
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, "Registry %s still had no fresh token %s after it was added.\n\n", reg, freshWait)
	if r.o.Passes > 0 && r.scheduled >= r.o.Passes {
		r.cancel()
	}
}

// noteEvent prints how long after the registry was added Rancher held a fresh token, and which pass wrote it.
func (r *run) noteEvent(a *added, res *updater.Result) {
	r.eventNoted = true
	at, ok := a.fresh()
	if !ok {
		fmt.Fprintf(r.out, "Event: %s pass wrote registry %s's credential %s, but Rancher did not hold the newest token.\n\n", res.Kind, a.registryID, a.credentialID)
		return
	}
	by := "a pass triggered by the event, not by the schedule"
	if res.Kind != updater.PassEvent {
		by = "the " + res.Kind + " pass, not by the event (the event stream did not trigger a pass in time)"
	}
	fmt.Fprintf(r.out, "Event: registry %s was added at %s with a password typed by hand, %s; Rancher held a fresh token %d ms later (%s),\n",
		a.registryID, a.at.Format(timeFormat), Mask(Placeholder), at.Sub(a.at).Milliseconds(), at.Format(timeFormat))
	fmt.Fprintf(r.out, "       written by %s (scheduled passes: last at %s, next due at %s).\n\n", by,
		r.lastFull.Format(timeFormat), r.lastFull.Add(Spacing(r.o.TokenTTL)).Format(timeFormat))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

const timeFormat = "15:04:05.000"

// printPass writes one pass as a table: every registry of every environment the pass read, what became of it
// and why, and the password before -> after (masked), checked against what the Rancher stand-in now stores.
func (r *run) printPass(res *updater.Result) {
	w, out := r.w, r.out
	latest := map[string]string{} // region -> password of the newest token
	for _, is := range w.ECR.Issued() {
		latest[is.Region] = is.Password
	}
	title := fmt.Sprintf("Pass %d (scheduled)", r.scheduled)
	switch res.Kind {
	case updater.PassScheduled:
	case updater.PassEvent:
		title = "Pass (event: Rancher reported a change, or a stream connected)"
	default:
		title = "Pass (" + res.Kind + ": something failed)"
	}
	fmt.Fprintf(out, "%s at %s: %s, %d Rancher requests, %d ECR calls\n", title, res.Start.Format(timeFormat),
		res.Duration.Round(time.Millisecond), res.RancherRequests, res.ECRCalls)
	for _, l := range summary(res) {
		fmt.Fprintf(out, "  %s\n", l)
	}
	if res.Err != nil {
		fmt.Fprintf(out, "  failed: %s\n\n", r.scrub.Scrub(res.Err.Error()))
		return
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ENVIRONMENT\tREGISTRY\tSERVER ADDRESS\tCREDENTIAL\tPASSWORD BEFORE -> AFTER\tEXPIRES\tFRESH IN RANCHER\tWHAT HAPPENED, AND WHY")
	envs := slices.Clone(res.Envs)
	sort.Slice(envs, func(i, j int) bool { return idLess(envs[i].ID, envs[j].ID) })
	for _, e := range envs {
		name := e.ID
		if e.Name != "" {
			name += " (" + e.Name + ")"
		}
		switch {
		case e.Err != nil:
			fmt.Fprintf(tw, "  %s\t\t\t\t\t\t\tfailed: %s\n", name, r.scrub.Scrub(e.Err.Error()))
			continue
		case e.SkipReason != "":
			fmt.Fprintf(tw, "  %s\t\t\t\t\t\t\tskipped: %s\n", name, e.SkipReason)
			continue
		}
		for _, row := range r.rows(res, e, latest) {
			fmt.Fprintf(tw, "  %s\t%s\n", name, row)
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(out)
	for _, c := range w.Rancher.Credentials("") {
		r.known[c.ID] = c.SecretValue
	}
}

// summary says what the pass counted, in the updater's words (seen, in scope, updated, created, skipped, failed: the
// fields of its "pass done" log line), what each count counts and how they add up to the rows of the table: one
// row per registry seen, and one per registry the pass created.
func summary(res *updater.Result) []string {
	leftAlone := 0
	for _, e := range res.Envs {
		if e.Err == nil && e.SkipReason == "" {
			leftAlone += e.Plan.Current
		}
	}
	made := res.RegistriesCreated
	inExisting := res.Created - made
	var l []string
	regs := fmt.Sprintf("registries:  %d seen (listed by Rancher)", res.Seen)
	if made > 0 {
		regs = fmt.Sprintf("registries:  %d in the table = %d seen (listed by Rancher) + %d created by the pass (%s)",
			res.Seen+made, res.Seen, made, createdBy(res))
	}
	l = append(l, regs)
	l = append(l, fmt.Sprintf("             %d seen = %d in scope (active ECR registries) + %d untouched (not ECR, or out of scope)",
		res.Seen, res.InScope, res.Seen-res.InScope))
	l = append(l, fmt.Sprintf("credentials: %d in the %d registries in scope = %d updated + %d created (the registry had none) + %d left alone (hold the current token)",
		res.Updated+inExisting+leftAlone, res.InScope, res.Updated, inExisting, leftAlone))
	if made > 0 {
		l = append(l, fmt.Sprintf("             %d created = %d in a registry seen + %d with the registry the pass created", res.Created, inExisting, made))
	}
	switch {
	case res.Skipped == 0 && res.Failures() == 0 && res.FailedEnvs == 0 && res.EnvsSkipped == 0:
		l = append(l, "nothing skipped, nothing failed")
	default:
		l = append(l, fmt.Sprintf("%d skipped, %d failed (%d environments not read, %d inactive): see the rows", res.Skipped, res.Failures(),
			res.FailedEnvs, res.EnvsSkipped))
	}
	return l
}

// createdBy names the settings that made the pass create registries.
func createdBy(res *updater.Result) string {
	var discovered, auto bool
	for _, e := range res.Envs {
		for _, w := range e.Writes {
			if w.RegistryCreated && w.Outcome == updater.OutcomeCreated {
				discovered = discovered || w.Service != ""
				auto = auto || w.Service == ""
			}
		}
	}
	switch {
	case discovered && auto:
		return "DISCOVER_REGISTRIES and AUTO_CREATE"
	case auto:
		return "AUTO_CREATE"
	}
	return "DISCOVER_REGISTRIES"
}

// rows are the table rows of one environment (without the environment column), one per registry, or one per
// write.
func (r *run) rows(res *updater.Result, e *updater.EnvResult, latest map[string]string) []string {
	w := r.w
	writes := map[string][]updater.Write{}
	for _, wr := range e.Writes {
		writes[wr.RegistryID] = append(writes[wr.RegistryID], wr)
	}
	skipped := map[string]string{}
	for _, s := range e.Plan.Skipped {
		skipped[s.RegistryID] = "skipped: " + s.Reason
	}
	for _, f := range e.Plan.Failures {
		skipped[f.RegistryID] = "failed: " + r.scrub.Scrub(f.Err.Error())
	}
	creds := map[string][]ranchertest.Credential{}
	for _, c := range w.Rancher.Credentials(e.ID) {
		if c.State == "active" {
			creds[c.RegistryID] = append(creds[c.RegistryID], c)
		}
	}
	var rows []string
	for _, reg := range w.Rancher.Registries(e.ID) {
		if reg.State == "removed" || reg.State == "purged" {
			continue
		}
		if a := r.added; a != nil && reg.ID == a.registryID && a.at.After(res.Start) && len(writes[reg.ID]) == 0 {
			continue // added while the pass ran, after it listed the registries: not seen, the next pass sees it
		}
		if ws := writes[reg.ID]; len(ws) > 0 {
			for _, wr := range ws {
				rows = append(rows, r.writeRow(res, reg, wr, latest))
			}
			continue
		}
		var ids, pw []string
		for _, c := range creds[reg.ID] {
			ids = append(ids, c.ID)
			pw = append(pw, Mask(c.SecretValue)+", unchanged")
		}
		cred, password := "-", "(no credential)"
		if len(ids) > 0 {
			cred, password = strings.Join(ids, ","), strings.Join(pw, "; ")
		}
		what, ok := skipped[reg.ID]
		if !ok {
			what = r.untouched(res, reg)
		}
		rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t\t\t%s", reg.ID, reg.ServerAddress, cred, password, what))
	}
	return rows
}

// writeRow is the table row of one write (without the environment column): the password before -> after, checked
// against what the Rancher stand-in now stores.
func (r *run) writeRow(res *updater.Result, reg ranchertest.Registry, wr updater.Write, latest map[string]string) string {
	before := "(no credential)"
	if p, ok := r.known[wr.CredentialID]; ok {
		before = Mask(p)
	}
	after, fresh := "?", "no"
	if c, ok := r.w.Rancher.Credential(wr.CredentialID); ok {
		after = Mask(c.SecretValue)
		if c.SecretValue == latest[wr.Region] && c.PublicValue == ecr.User {
			fresh = "yes"
		}
	}
	what := string(wr.Outcome) + ": " + whyWritten(res, wr)
	if wr.Err != nil {
		what = string(wr.Outcome) + ": " + r.scrub.Scrub(wr.Err.Error())
	}
	return fmt.Sprintf("%s\t%s\t%s\t%s -> %s\t%s\t%s\t%s", reg.ID, reg.ServerAddress, wr.CredentialID,
		before, after, wr.ExpiresAt.Format("15:04:05"), fresh, what)
}

// whyWritten says why a pass wrote a credential.
func whyWritten(res *updater.Result, wr updater.Write) string {
	switch {
	case res.Kind == updater.PassEvent:
		return "Rancher reported this registry changed"
	case wr.Op == plan.OpCreateCredential:
		return "ECR registry without a credential"
	case wr.Op == plan.OpCreateRegistry && wr.Service != "":
		return "DISCOVER_REGISTRIES: service " + wr.Service + " runs an image of it, and nobody had added it"
	case wr.Op == plan.OpCreateRegistry:
		return "AUTO_CREATE"
	case res.Kind == updater.PassScheduled:
		return "ECR registry: every scheduled pass rewrites it"
	}
	return "retry of what failed"
}

// untouched says why a registry the pass wrote nothing to was left alone.
func (r *run) untouched(res *updater.Result, reg ranchertest.Registry) string {
	h, err := ecr.ParseServerAddress(reg.ServerAddress)
	switch {
	case errors.Is(err, ecr.ErrNotECR):
		return "untouched: not an ECR registry"
	case err != nil:
		return "skipped: " + err.Error()
	case len(r.rules.Accounts) > 0 && !slices.Contains(r.rules.Accounts, h.Account):
		return "untouched: out of scope (account not in AWS_ECR_REGISTRY_IDS)"
	case len(r.rules.Regions) > 0 && !slices.Contains(r.rules.Regions, h.Region):
		return "untouched: out of scope (region not in ECR_REGIONS)"
	case reg.State != "active":
		return "skipped: registry is " + reg.State
	case res.Kind != updater.PassScheduled:
		return "left alone: holds a fresh password, and Rancher reported no change to it"
	}
	return "left alone"
}

// idLess orders Cattle ids ("1a5" < "1a10") by length, then text.
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
