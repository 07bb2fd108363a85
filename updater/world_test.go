package updater

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/standin"
	"github.com/ecr-updater/ecr-updater/rancher"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// world is a Rancher stand-in and an ECR stand-in with keys, for tests that run real passes.
type world struct {
	t       *testing.T
	rancher *ranchertest.Server
	ecr     *ecrtest.Server
	env     string // the first environment
	log     *standin.Buffer
}

const (
	envKey, envSecret   = "ENVKEY00000000000001", "env-secret-4f1c0a9e7d2b"
	acctKey, acctSecret = "ACCTKEY0000000000001", "acct-secret-9a8b7c6d5e4f"
	awsKey, awsSecret   = "AKIATEST000000000001", "aws-secret-0123456789abcdef"
)

func newWorld(t *testing.T, ro ranchertest.Options, eo ecrtest.Options) *world {
	t.Helper()
	w := &world{t: t, rancher: ranchertest.New(ro), ecr: ecrtest.New(eo), log: &standin.Buffer{}}
	t.Cleanup(w.rancher.Close)
	t.Cleanup(w.ecr.Close)
	w.ecr.AddKey(awsKey, awsSecret, acct)
	w.env = w.rancher.AddEnvironment("Default")
	w.rancher.AddEnvironmentKey(w.env, envKey, envSecret)
	w.rancher.AddAccountKey(acctKey, acctSecret, true)
	return w
}

// config is an updater configuration with the environment key and the agent's /v1 URL.
func (w *world) config() Config {
	l := logrus.New()
	l.Out = w.log
	l.SetLevel(logrus.DebugLevel)
	l.SetFormatter(&logrus.TextFormatter{DisableColors: true, DisableTimestamp: true})
	return Config{
		Rancher: rancher.Options{Endpoint: endpoint(w.rancher.URL + "/v1"), AccessKey: envKey, SecretKey: redact.Secret(envSecret),
			Timeout: 2 * time.Second},
		ECR: ecr.Config{HomeRegion: "us-east-1", Endpoint: w.ecr.URL, Timeout: 5 * time.Second, MaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(awsKey, awsSecret, "")},
		Log:    l,
		Jitter: func() float64 { return 0.5 },
	}
}

func (w *world) updater(cfg Config) *Updater {
	w.t.Helper()
	u, err := New(context.Background(), cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(u.Close)
	return u
}

// pass runs one pass with a fresh updater.
func (w *world) pass(cfg Config) *Result {
	w.t.Helper()
	return w.updater(cfg).Pass(context.Background())
}

// latest returns the newest password the ECR stand-in issued for a region.
func (w *world) latest(region string) string {
	pw := ""
	for _, is := range w.ecr.Issued() {
		if is.Region == region {
			pw = is.Password
		}
	}
	return pw
}

// registry adds a registry with one credential in state active and returns the credential id.
func (w *world) registry(env, address, credState string) string {
	id := w.rancher.AddRegistry(env, address, "active")
	return w.rancher.AddCredential(env, id, "AWS", "old-password-"+id, credState)
}

func (w *world) cred(id string) ranchertest.Credential {
	w.t.Helper()
	c, ok := w.rancher.Credential(id)
	if !ok {
		w.t.Fatalf("no credential %s", id)
	}
	return c
}

// wantFresh checks that a credential holds the newest password of its region.
func (w *world) wantFresh(id, region string) {
	w.t.Helper()
	c := w.cred(id)
	if c.PublicValue != "AWS" || c.SecretValue == "" || c.SecretValue != w.latest(region) {
		w.t.Errorf("credential %s: publicValue %q, secret fresh for %s: %v", id, c.PublicValue, region, c.SecretValue == w.latest(region))
	}
}

// wantUntouched checks that a credential still has the value it was created with.
func (w *world) wantUntouched(id string) {
	w.t.Helper()
	c := w.cred(id)
	if !strings.HasPrefix(c.SecretValue, "old-password-") || c.Writes != 0 {
		w.t.Errorf("credential %s was written (writes %d)", id, c.Writes)
	}
}

// writes counts the PUT and POST requests the Rancher stand-in saw.
func (w *world) writes() int {
	n := 0
	for _, r := range w.rancher.Requests() {
		if r.Method == "PUT" || r.Method == "POST" {
			n++
		}
	}
	return n
}

const (
	acct  = "123456789012"
	other = "210987654321"
)

func ecrHost(account, region string) string { return account + ".dkr.ecr." + region + ".amazonaws.com" }

func host(account, region string) string { return ecrHost(account, region) }

// firstError is the first thing that went wrong in a pass, in the error's own words.
func (r *Result) firstError() string { return r.describe(true) }

// endpoint is rancher.ParseURL(raw), for URLs the test knows to be good.
func endpoint(raw string) rancher.Endpoint {
	ep, err := rancher.ParseURL(raw)
	if err != nil {
		panic(fmt.Sprintf("ParseURL(%q): %v", raw, err))
	}
	return ep
}
