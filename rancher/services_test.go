package rancher

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

func TestServicesPageByPage(t *testing.T) {
	w := newWorld(t, ranchertest.Options{})
	web := w.srv.AddService(w.envA, "web", ecrHost+"/web:1", ecrHost2+"/log@sha256:"+strings.Repeat("a", 64), "busybox")
	lb := w.srv.AddService(w.envA, "lb", "rancher/lb-service-haproxy:v0.9.1")
	ext := w.srv.AddService(w.envA, "ext", "")
	gone := w.srv.AddService(w.envA, "gone", "nginx")
	w.srv.SetState(gone, "removed")
	w.srv.SetState(lb, "inactive")
	w.srv.SetServiceKind(lb, "loadBalancerService")
	w.srv.SetServiceKind(ext, "externalService")
	for i := 0; i < 7; i++ {
		w.srv.AddService(w.envA, fmt.Sprint("many", i), "nginx")
	}
	w.srv.AddService(w.envB, "elsewhere", "nginx")

	o := w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA)
	o.PageSize = 3
	s := dial(t, o)
	e := open(t, s, "")
	before := e.Requests()
	got, err := e.Services(context.Background())
	if err != nil {
		t.Fatal(errText(t, err))
	}
	if n := e.Requests() - before; n != 4 {
		t.Errorf("%d requests for 10 services in pages of 3", n)
	}
	if len(got) != 10 {
		t.Fatalf("%d services: %+v", len(got), got)
	}
	if g := got[0]; g.ID != web || g.Name != "web" || g.State != "active" || g.EnvID != w.envA || g.Kind != "service" ||
		g.StackID == "" || fmt.Sprint(g.Images) != fmt.Sprintf("[{ docker:%s/web:1} {web-sidekick-1 docker:%s/log@sha256:%s} {web-sidekick-2 docker:busybox}]", ecrHost, ecrHost2, strings.Repeat("a", 64)) {
		t.Errorf("web: %+v", g)
	}
	if g := got[1]; g.ID != lb || g.State != "inactive" || g.Kind != "loadBalancerService" || len(g.Images) != 1 {
		t.Errorf("lb: %+v", g)
	}
	if g := got[2]; g.ID != ext || g.Kind != "externalService" || len(g.Images) != 0 {
		t.Errorf("a service without launchConfig: %+v", g)
	}
	for _, g := range got {
		if g.ID == gone || g.Name == "elsewhere" {
			t.Errorf("listed %+v", g)
		}
	}
}

func TestServicesErrors(t *testing.T) {
	w := newWorld(t, ranchertest.Options{})
	w.srv.AddService(w.envA, "web", "nginx")
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA))
	e := open(t, s, "")
	for _, f := range []ranchertest.Fault{{Status: 500}, {Garbage: true}} {
		w.srv.AddFault(ranchertest.Fault{PathContains: "/services", Status: f.Status, Garbage: f.Garbage})
		_, err := e.Services(context.Background())
		msg := errText(t, err)
		if err == nil || !strings.Contains(msg, "list services of environment "+w.envA) {
			t.Errorf("fault %+v: %v", f, msg)
		}
		w.srv.ClearFaults()
	}
}

func TestInspectReportsAccess(t *testing.T) {
	w := newWorld(t, ranchertest.Options{})
	w.srv.AddService(w.envA, "web", "nginx")
	ctx := context.Background()

	// An environment key: everything.
	s := dial(t, w.opts("/v1", envKeyA, envSecretA))
	e, a, err := s.Inspect(ctx, "")
	if err != nil || a.Err() != nil || e.ID() != w.envA {
		t.Fatalf("env key: %v %v %s", err, a.Err(), e.ID())
	}
	if a.String() != "registry: list, create, update; registryCredential: list, create, update" {
		t.Errorf("access %q", a)
	}

	// An account key without an environment: read-only, and Inspect still lists.
	s = dial(t, w.opts("/v2-beta", userKey, userSecret))
	e, a, err = s.Inspect(ctx, "")
	if err != nil {
		t.Fatal(errText(t, err))
	}
	if a.Err() == nil || !strings.Contains(a.Err().Error(), "registry resources are read-only for this key and URL") ||
		a.String() != "registry: list; registryCredential: list" {
		t.Errorf("account key unscoped: %v %q", a.Err(), a)
	}
	if svcs, err := e.Services(ctx); err != nil || len(svcs) != 1 {
		t.Errorf("read-only services: %v %v", err, svcs)
	}
	if regs := registries(t, e); len(regs) != 2 {
		t.Errorf("read-only registries: %v", regs)
	}
	if !strings.Contains(s.WriteFix(), "the environment selection") {
		t.Errorf("fix %q", s.WriteFix())
	}
	// Open refuses the same scope, with the same words.
	if _, err := s.Open(ctx, ""); err == nil || !strings.Contains(err.Error(), a.Err().Error()) || !strings.Contains(err.Error(), s.WriteFix()) {
		t.Errorf("Open: %v", err)
	}
	// Through the environment's scope: everything.
	if _, a, err = s.Inspect(ctx, w.envA); err != nil || a.Err() != nil {
		t.Errorf("account key scoped: %v %v", err, a.Err())
	}

	for _, c := range []struct {
		a    Access
		want string
	}{
		{Access{}, "the key cannot see registry resources"},
		{Access{Registry: TypeAccess{true, true, true, false}}, "the key cannot see registryCredential resources"},
		{Access{Registry: TypeAccess{true, true, true, false}, Credential: TypeAccess{true, true, true, false}}, "registryCredential is not updatable"},
		{Access{Registry: TypeAccess{true, true, false, false}, Credential: TypeAccess{true, true, true, true}}, "registry resources are read-only"},
		{Access{Registry: TypeAccess{true, true, true, false}, Credential: TypeAccess{true, true, true, true}}, ""},
	} {
		err := c.a.Err()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.a, err, c.want)
		}
	}
	if s := (Access{Registry: TypeAccess{Visible: true}}).String(); s != "registry: nothing; registryCredential: not visible" {
		t.Errorf("%q", s)
	}
}
