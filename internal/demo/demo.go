// Package demo runs the real updater loop against the built-in Rancher and ECR stand-ins, so that a newcomer
// sees what ecr-updater does without an AWS account or a Rancher server: two environments, ECR registries in two
// regions, a Docker Hub registry and a registry without a credential, short-lived tokens, and a table per pass of
// what changed.
package demo

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/rancher"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
	"github.com/ecr-updater/ecr-updater/updater"
)

// Options configure a demo run.
type Options struct {
	// Passes stops the demo after this many passes; 0 runs until ctx is done.
	Passes int
	// TokenTTL is the lifetime of the stand-in's tokens; 0 means 10 s (a pass every 5 s).
	TokenTTL time.Duration
	// Out receives the tables, Log the updater's log lines (at LogLevel, "warn" when empty).
	Out, Log io.Writer
	LogLevel string
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
// Hub registry and an ECR registry of a second account without any credential; environment "Windows" with an
// ECR registry in us-east-1 and one in eu-west-1.
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
		Rules:        updater.Rules{HomeRegion: "us-east-1"},
		Environments: []string{"all"},
		Rancher:      rancher.Options{Endpoint: rancher.Endpoint{Origin: w.Rancher.URL}, AccessKey: w.AccessKey, SecretKey: redact.Secret(w.SecretKey)},
		ECR: ecr.Config{HomeRegion: "us-east-1", Endpoint: w.ECR.URL, Timeout: 10 * time.Second,
			Credentials: credentials.NewStaticCredentialsProvider(w.AWSKeyID, w.AWSSecret, "")},
		Log: log,
	}
}

// Run runs the demo until ctx is done or the passes are done.
func Run(ctx context.Context, o Options) error {
	if o.TokenTTL <= 0 {
		o.TokenTTL = 10 * time.Second
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

	scrubber := redact.NewScrubber()
	scrubber.Add(redact.Secret(w.SecretKey), redact.Secret(w.AWSSecret))
	log := logrus.New()
	log.Out = o.Log
	log.SetLevel(level)
	log.SetFormatter(&redact.Formatter{Inner: &logrus.TextFormatter{DisableColors: true, FullTimestamp: true}, Scrubber: scrubber})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := w.Config(log)
	cfg.Scrubber = scrubber
	passes := 0
	fmt.Fprintf(o.Out, "ecr-updater demo: Rancher stand-in at %s, ECR stand-in at %s, tokens live %s.\n", w.Rancher.URL, w.ECR.URL, o.TokenTTL)
	fmt.Fprintf(o.Out, "Environments %s (Default) and %s (Windows); the updater uses one account key for both.\n\n", w.Envs[0], w.Envs[1])
	cfg.OnPass = func(res *updater.Result) {
		passes++
		w.printPass(o.Out, passes, res)
		if o.Passes > 0 && passes >= o.Passes {
			cancel()
		}
	}
	u, err := updater.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer u.Close()
	if err := u.Run(ctx); err != nil {
		return err
	}
	if o.Passes > 0 && passes < o.Passes {
		return fmt.Errorf("interrupted after %d of %d passes", passes, o.Passes)
	}
	return nil
}

// printPass writes one pass as a table, checking each write against what the Rancher stand-in now stores.
func (w *World) printPass(out io.Writer, n int, res *updater.Result) {
	latest := map[string]string{} // region -> password of the newest token
	for _, is := range w.ECR.Issued() {
		latest[is.Region] = is.Password
	}
	fmt.Fprintf(out, "Pass %d at %s: %d registries seen, %d in scope, %d updated, %d created, %d skipped, %d failed (%s, %d Rancher requests, %d ECR calls)\n",
		n, res.Start.Format("15:04:05"), res.Seen, res.InScope, res.Updated, res.Created, res.Skipped, res.Failures(),
		res.Duration.Round(time.Millisecond), res.RancherRequests, res.ECRCalls)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ENVIRONMENT\tREGISTRY\tSERVER ADDRESS\tACTION\tCREDENTIAL\tTOKEN EXPIRES\tSTORED IN RANCHER")
	var rows []string
	for _, e := range res.Envs {
		name := e.ID
		if e.Name != "" {
			name += " (" + e.Name + ")"
		}
		if e.Err != nil {
			rows = append(rows, fmt.Sprintf("  %s\t\t\tfailed: %v\t\t\t", name, e.Err))
			continue
		}
		for _, wr := range e.Writes {
			stored := "no"
			if c, ok := w.Rancher.Credential(wr.CredentialID); ok && c.SecretValue == latest[wr.Region] && c.PublicValue == ecr.User {
				stored = "yes, fresh password"
			}
			action := string(wr.Outcome)
			if wr.Err != nil {
				action += ": " + wr.Err.Error()
			}
			rows = append(rows, fmt.Sprintf("  %s\t%s\t%s\t%s\t%s\t%s\t%s", name, wr.RegistryID, wr.ServerAddress, action,
				wr.CredentialID, wr.ExpiresAt.Format("15:04:05"), stored))
		}
		for _, s := range e.Plan.Skipped {
			rows = append(rows, fmt.Sprintf("  %s\t%s\t%s\tskipped: %s\t\t\t", name, s.RegistryID, s.ServerAddress, s.Reason))
		}
	}
	sort.Strings(rows)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	_ = tw.Flush()
	fmt.Fprintln(out)
}
