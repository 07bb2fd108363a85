package updater

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/rancher"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// TestReadEnvReadsOnly: the read step, as doctor calls it without an Updater, lists the registries, credentials
// and services of an environment with GETs only (one slot is enough: the lists take turns), reuses a client given
// to it, and says so when its deadline (readStageTimeouts RANCHER_TIMEOUTs) cuts a read short.
func TestReadEnvReadsOnly(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w.registry(w.env, host(acct, "us-east-1"), "active")
	w.rancher.AddService(w.env, "web", host(acct, "us-east-1")+"/web:1")
	cfg := w.config()
	srv, err := rancher.Dial(context.Background(), cfg.Rancher)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	w.rancher.ResetRequests()
	opts := ReadOptions{Timeout: cfg.Rancher.Timeout, Services: true, Slots: make(chan struct{}, 1)}
	r, err := ReadEnv(context.Background(), srv, "", opts)
	if err != nil || r.Env == nil || len(r.Registries) != 1 || len(r.Credentials) != 1 || len(r.Services) != 1 || r.ServicesErr != nil {
		t.Fatalf("ReadEnv: %v, %+v", err, r)
	}
	if n := w.rancher.RequestCount(); n != 4 || w.writes() != 0 {
		t.Errorf("%d requests (%d writes), want 4 GETs: schemas, registries, credentials, services", n, w.writes())
	}
	w.rancher.ResetRequests()
	opts.Env, opts.Services = r.Env, false
	if r, err := ReadEnv(context.Background(), srv, "", opts); err != nil || r.Env != opts.Env || r.Services != nil {
		t.Fatalf("ReadEnv with a client: %v, %+v", err, r)
	}
	if n := w.rancher.RequestCount(); n != 2 {
		t.Errorf("%d requests with a client, want 2 lists", n)
	}

	w.rancher.AddFault(ranchertest.Fault{PathContains: "/registries", Hang: true, Times: 1})
	opts.Timeout = 20 * time.Millisecond
	_, err = ReadEnv(context.Background(), srv, "", opts)
	if err == nil || !strings.Contains(err.Error(), "reading the environment took longer than 200ms (10 Rancher request timeouts), given up") {
		t.Errorf("hung list: %v", err)
	}
}

// TestFetchTokens: the token step fetches one token per region, and the scrubber knows each password at once.
func TestFetchTokens(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	cfg := w.config()
	client, err := ecr.New(context.Background(), cfg.ECR)
	if err != nil {
		t.Fatal(err)
	}
	scrubber := redact.NewScrubber()
	regions := []string{"us-east-1", "eu-west-1", "ap-south-1", "sa-east-1", "us-west-2"}
	tokens := FetchTokens(context.Background(), client, regions, scrubber)
	if len(tokens) != len(regions) || w.ecr.Calls() != len(regions) {
		t.Fatalf("%d tokens, %d calls for %d regions", len(tokens), w.ecr.Calls(), len(regions))
	}
	for _, region := range regions {
		tok := tokens[region]
		if tok.Err != nil || tok.Token.Region != region || scrubber.Scrub(tok.Token.Password.Reveal()) != redact.Marker {
			t.Errorf("%s: %v, region %q, password scrubbed: %v", region, tok.Err, tok.Token.Region, scrubber.Scrub(tok.Token.Password.Reveal()) == redact.Marker)
		}
	}
}
