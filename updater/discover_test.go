package updater

import (
	"strings"
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// servicesRequests counts the requests for the services list.
func (w *world) servicesRequests() int {
	n := 0
	for _, r := range w.rancher.Requests() {
		if strings.HasSuffix(strings.TrimSuffix(r.Path, "/"), "/services") {
			n++
		}
	}
	return n
}

// registryByHost returns the registry of an environment with that server address, and its credentials.
func (w *world) registryByHost(env, host string) (string, []ranchertest.Credential) {
	for _, r := range w.rancher.Registries(env) {
		if r.ServerAddress == host {
			var creds []ranchertest.Credential
			for _, c := range w.rancher.Credentials(env) {
				if c.RegistryID == r.ID {
					creds = append(creds, c)
				}
			}
			return r.ID, creds
		}
	}
	return "", nil
}

// TestDiscoverCreatesTheRegistriesServicesUse: with DISCOVER_REGISTRIES, a pass creates exactly the missing
// in-scope ECR registries its services' images use, once, each with a fresh credential; Docker Hub images and
// registries of accounts out of scope are left alone; one services list per environment and pass. Off, the
// services are not even read.
func TestDiscoverCreatesTheRegistriesServicesUse(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	existing := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	west, eu, foreign := ecrHost(acct, "us-west-2"), ecrHost(acct, "eu-west-1"), ecrHost(other, "us-west-2")
	w.rancher.AddService(w.env, "web", west+"/web:1", "nginx:1.25", eu+"/log-shipper:2")
	w.rancher.AddService(w.env, "api", ecrHost(acct, "us-east-1")+"/api:3", west+"/api-sidekick:1")
	w.rancher.AddService(w.env, "partner", foreign+"/x:1")
	w.rancher.AddService(w.env, "hub", "library/redis:7")

	// Off: nothing created, no services list.
	cfg := w.config()
	cfg.Rules.Accounts = []string{acct}
	w.rancher.ResetRequests()
	if res := w.pass(cfg); !res.OK() || res.Created != 0 {
		t.Fatalf("pass without discovery: ok %v, created %d", res.OK(), res.Created)
	}
	if n := w.servicesRequests(); n != 0 {
		t.Errorf("%d services lists without DISCOVER_REGISTRIES", n)
	}
	off := w.rancher.RequestCount()

	// On: the two missing registries of account acct, each with a credential; twice gives nothing more.
	cfg.Rules.Discover = true
	u := w.updater(cfg)
	w.rancher.ResetRequests()
	res := u.Pass(t.Context())
	if !res.OK() || res.Created != 2 || res.RegistriesCreated != 2 {
		t.Fatalf("pass: ok %v, created %d, registries created %d: %v", res.OK(), res.Created, res.RegistriesCreated, res.firstError())
	}
	if n := w.servicesRequests(); n != 1 {
		t.Errorf("%d services lists in one pass of one environment", n)
	}
	t.Logf("Rancher requests of a pass that creates nothing: %d without discovery; with it, the services list adds 1", off)
	for host, region := range map[string]string{west: "us-west-2", eu: "eu-west-1"} {
		id, creds := w.registryByHost(w.env, host)
		if id == "" || len(creds) != 1 || creds[0].PublicValue != "AWS" || creds[0].SecretValue != w.latest(region) {
			t.Errorf("registry %s: id %q, credentials %+v", host, id, creds)
		}
	}
	if id, _ := w.registryByHost(w.env, foreign); id != "" {
		t.Errorf("a registry of account %s (out of scope) was created", other)
	}
	if n := len(w.rancher.Registries(w.env)); n != 3 {
		t.Errorf("%d registries, want 3", n)
	}
	if !strings.Contains(w.log.String(), "registry and credential created for the image of a service (registry discovery)") ||
		!strings.Contains(w.log.String(), "service=\"web (") {
		t.Errorf("the creation does not name the service:\n%s", w.log.String())
	}
	w.wantFresh(existing, "us-east-1")
	if res := u.Pass(t.Context()); !res.OK() || res.Created != 0 || len(w.rancher.Registries(w.env)) != 3 {
		t.Errorf("second pass: ok %v, created %d, registries %d", res.OK(), res.Created, len(w.rancher.Registries(w.env)))
	}
}

// TestDiscoverServiceLaunchedWithinSeconds: with the event stream, a service launched with the image of an ECR
// registry nobody added gets that registry, with a fresh credential, within seconds.
func TestDiscoverServiceLaunchedWithinSeconds(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	cfg := w.config()
	cfg.Rules.Discover = true
	l := w.startLive(t, cfg)
	eventually(t, 5*time.Second, "stream connected", func() bool { return l.streamState(w.env) == StreamConnected })
	eventually(t, 5*time.Second, "first passes done", func() bool { _, s := l.u.Health().Status(); return s.Passes >= 2 })

	host := ecrHost(acct, "ap-southeast-2")
	w.rancher.AddService(w.env, "checkout", host+"/checkout:42")
	took := eventually(t, 10*time.Second, "the registry of the new service", func() bool {
		_, creds := w.registryByHost(w.env, host)
		return len(creds) == 1 && creds[0].SecretValue == w.latest("ap-southeast-2")
	})
	t.Logf("service launched: its registry created with a fresh credential %s later", took.Round(time.Millisecond))
}
