package updater

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// multi is a world of several environments served by one account key.
type multi struct {
	*world
	envs  map[string]string // name -> id
	creds map[string]string // env id -> its one ECR credential
}

func newMulti(t *testing.T, names ...string) *multi {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	m := &multi{world: w, envs: map[string]string{"Default": w.env}, creds: map[string]string{}}
	m.creds[w.env] = w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	for _, n := range names {
		id := w.rancher.AddEnvironment(n)
		m.envs[n] = id
		m.creds[id] = w.registry(id, ecrHost(acct, "us-east-1"), "active")
		w.registry(id, "quay.io", "active")
	}
	return m
}

func (m *multi) config(envs ...string) Config {
	cfg := m.world.config()
	cfg.Rancher.Endpoint, cfg.Rancher.AccessKey, cfg.Rancher.SecretKey = endpoint(m.rancher.URL), acctKey, redact.Secret(acctSecret)
	cfg.Environments = envs
	return cfg
}

func TestEnvironmentSelection(t *testing.T) {
	cases := []struct {
		name     string
		selector []string
		want     []string // names written
	}{
		{"by id", nil, []string{"Windows"}},
		{"by name", []string{"Production"}, []string{"Production"}},
		{"by name, any case", []string{"production", "WINDOWS"}, []string{"Production", "Windows"}},
		{"all", []string{"all"}, []string{"Default", "Production", "Windows"}},
		{"all and a name: no environment twice", []string{"all", "Default"}, []string{"Default", "Production", "Windows"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMulti(t, "Production", "Windows", "Retired")
			m.rancher.SetEnvironmentState(m.envs["Retired"], "inactive")
			sel := tc.selector
			if sel == nil {
				sel = []string{m.envs["Windows"]}
			}
			res := m.pass(m.config(sel...))
			if !res.OK() {
				t.Fatalf("pass: %v\n%s", res.firstError(), m.log)
			}
			written := map[string]bool{}
			for _, name := range tc.want {
				written[m.envs[name]] = true
			}
			for _, id := range m.envs {
				if written[id] {
					m.wantFresh(m.creds[id], "us-east-1")
				} else {
					m.wantUntouched(m.creds[id])
				}
			}
			// Every write went through the environment's own scope.
			for _, r := range m.rancher.Requests() {
				if r.Method == http.MethodPut && !strings.Contains(r.Path, "/v2-beta/projects/") {
					t.Errorf("unscoped write %s %s", r.Method, r.Path)
				}
			}
			if tc.selector != nil && tc.selector[0] == "all" {
				if res.EnvsSkipped != 1 || !strings.Contains(m.log.String(), "environment skipped: environment is inactive") {
					t.Errorf("inactive environment: %d skipped\n%s", res.EnvsSkipped, m.log)
				}
			}
		})
	}
}

func TestOneEnvironmentFailingDoesNotStopTheOthers(t *testing.T) {
	m := newMulti(t, "Production", "Windows")
	broken := m.envs["Production"]
	m.rancher.AddFault(ranchertest.Fault{PathContains: "/projects/" + broken + "/", Status: http.StatusInternalServerError})
	res := m.pass(m.config("all"))
	if res.OK() || res.Failures() != 1 || res.Updated != 2 {
		t.Fatalf("ok %v failed %d updated %d", res.OK(), res.Failures(), res.Updated)
	}
	m.wantFresh(m.creds[m.envs["Default"]], "us-east-1")
	m.wantFresh(m.creds[m.envs["Windows"]], "us-east-1")
	m.wantUntouched(m.creds[broken])
	if msg := res.firstError(); !strings.Contains(msg, broken) {
		t.Errorf("the summary does not name the environment: %s", msg)
	}
	if !strings.Contains(m.log.String(), `env="`+broken+` (Production)"`) {
		t.Errorf("no log line names the failing environment:\n%s", m.log)
	}
	// It recovers on its own: the next pass reconnects it.
	m.rancher.ClearFaults()
	u := m.updater(m.config("all"))
	if res := u.Pass(context.Background()); !res.OK() || res.Updated != 3 {
		t.Fatalf("recovery: %v", res.firstError())
	}
}

func TestUnknownAndAmbiguousEnvironments(t *testing.T) {
	m := newMulti(t, "Twin", "Twin")
	res := m.pass(m.config("Nowhere", "Twin", "Default"))
	if res.OK() || res.Failures() != 2 || res.Updated != 1 {
		t.Fatalf("ok %v failed %d updated %d", res.OK(), res.Failures(), res.Updated)
	}
	log := m.log.String()
	if !strings.Contains(log, `environment \"Nowhere\": no such environment`) || !strings.Contains(log, "use an id") {
		t.Errorf("log:\n%s", log)
	}
}

func TestEnvironmentKeyAskingForOtherEnvironments(t *testing.T) {
	m := newMulti(t, "Production")
	cfg := m.config("Production")
	cfg.Rancher.AccessKey, cfg.Rancher.SecretKey = envKey, envSecret // the key of Default
	res := m.pass(cfg)
	// A configuration error about the selection, naming the settings by their neutral words (main.go names them).
	var ce *setting.Error
	if !errors.As(res.Err, &ce) || ce.ID != setting.Environments ||
		res.Err.Error() != `the environment selection: names "Production", but the Rancher access key is an Environment API key (kind "project"), `+
			"which sees only its own environment; use an Account API key to reach other environments" {
		t.Fatalf("err %v, want a *setting.Error about the environment selection", res.Err)
	}
	if m.writes() != 0 {
		t.Error("something was written")
	}
	// Its own environment is fine.
	cfg.Environments = []string{"Default"}
	if res := m.pass(cfg); !res.OK() || res.Updated != 1 {
		t.Errorf("own environment: %v", res.firstError())
	}
}

// TestRequestCountIsTheMinimum counts every request at the stand-in: per pass one ECR call per region, per
// environment one registries list and one credentials list, one write per credential; connections only once.
func TestRequestCountIsTheMinimum(t *testing.T) {
	m := newMulti(t, "Production", "Windows")
	for _, id := range m.envs {
		m.registry(id, ecrHost(acct, "eu-west-1"), "active")
		m.registry(id, ecrHost(other, "eu-west-1"), "active")
	}
	u := m.updater(m.config("all"))
	m.rancher.ResetRequests()
	first := u.Pass(context.Background())
	// probe + account schemas + projects list + 3 x (schemas + registries + credentials + 3 writes)
	if want := 3 + 3*(3+3); m.rancher.RequestCount() != want || first.RancherRequests != int64(want) {
		t.Errorf("first pass: stand-in %d, result %d, want %d", m.rancher.RequestCount(), first.RancherRequests, want)
	}
	if m.ecr.Calls() != 2 || first.ECRCalls != 2 {
		t.Errorf("first pass: %d ECR calls, want 2 (two regions)", m.ecr.Calls())
	}
	m.rancher.ResetRequests()
	m.ecr.ResetCalls()
	second := u.Pass(context.Background())
	// projects list + 3 x (registries + credentials + 3 writes)
	if want := 1 + 3*(2+3); m.rancher.RequestCount() != want || second.RancherRequests != int64(want) {
		t.Errorf("second pass: stand-in %d, result %d, want %d", m.rancher.RequestCount(), second.RancherRequests, want)
	}
	if m.ecr.Calls() != 2 {
		t.Errorf("second pass: %d ECR calls", m.ecr.Calls())
	}
	var perEnv int64
	for _, e := range second.Envs {
		perEnv += e.Requests
		if e.Requests != 5 {
			t.Errorf("environment %s: %d requests, want 5", e.ID, e.Requests)
		}
	}
	if perEnv+1 != second.RancherRequests {
		t.Errorf("per-environment counts %d + 1 projects list != %d", perEnv, second.RancherRequests)
	}
	// Credentials are listed once per environment, never per registry.
	for _, r := range m.rancher.Requests() {
		if strings.Contains(r.RawQuery, "registryId") {
			t.Errorf("credentials listed per registry: %s?%s", r.Path, r.RawQuery)
		}
	}
}
