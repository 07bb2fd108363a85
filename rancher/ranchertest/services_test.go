package ranchertest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	client "github.com/rancher/go-rancher/v2"
)

func serviceIDs(c *client.ServiceCollection) []string {
	var ids []string
	for _, s := range c.Data {
		ids = append(ids, s.Id)
	}
	return ids
}

func TestServicesThroughGoRancher(t *testing.T) {
	w := newWorld(t, Options{})
	web := w.s.AddService(w.env1, "web", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1", "busybox:1.36", "nginx")
	ext := w.s.AddService(w.env1, "db", "")
	other := w.s.AddService(w.env2, "api", "nginx:1")
	if web != "1s1" || ext != "1s2" || other != "1s3" {
		t.Fatalf("ids %s %s %s", web, ext, other)
	}

	c := dial(t, w.s.URL+"/v2-beta/projects/"+w.env1+"/schemas", w.envKey1)
	schema := c.GetTypes()[client.SERVICE_TYPE]
	if !slices.Equal(schema.CollectionMethods, []string{"GET"}) || !slices.Equal(schema.ResourceMethods, []string{"GET"}) {
		t.Fatalf("service schema methods %v %v", schema.CollectionMethods, schema.ResourceMethods)
	}
	for _, f := range []string{"launchConfig", "secondaryLaunchConfigs", "stackId", "name", "state"} {
		if _, ok := schema.ResourceFields[f]; !ok {
			t.Errorf("schema has no field %s", f)
		}
	}
	coll, err := c.Service.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(serviceIDs(coll)) != "[1s1 1s2]" {
		t.Fatalf("env key sees %v", serviceIDs(coll))
	}
	s := coll.Data[0]
	if s.Type != "service" || s.Kind != "service" || s.Name != "web" || s.State != "active" || s.StackId != "1st5" ||
		s.AccountId != w.env1 || s.LaunchConfig == nil ||
		s.LaunchConfig.ImageUuid != "docker:123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1" {
		t.Fatalf("service %+v", s)
	}
	if len(s.SecondaryLaunchConfigs) != 2 || s.SecondaryLaunchConfigs[0].Name != "web-sidekick-1" ||
		s.SecondaryLaunchConfigs[0].ImageUuid != "docker:busybox:1.36" || s.SecondaryLaunchConfigs[1].ImageUuid != "docker:nginx" {
		t.Fatalf("sidekicks %+v", s.SecondaryLaunchConfigs)
	}
	if coll.Data[1].LaunchConfig != nil || len(coll.Data[1].SecondaryLaunchConfigs) != 0 {
		t.Fatalf("a service without image: %+v", coll.Data[1])
	}
	if !strings.HasSuffix(s.Links["self"], "/v2-beta/projects/"+w.env1+"/services/1s1") {
		t.Fatalf("self link %s", s.Links["self"])
	}

	// Every kind of service is in the one collection, with its own type.
	lb := w.s.AddService(w.env1, "lb", "rancher/lb-service-haproxy:v0.9.1")
	w.s.SetServiceKind(lb, "loadBalancerService")
	coll, err = c.Service.List(&client.ListOpts{Filters: map[string]any{"name": "lb"}})
	if err != nil || len(coll.Data) != 1 || coll.Data[0].Type != "loadBalancerService" || coll.Data[0].Kind != "loadBalancerService" ||
		coll.ResourceType != "service" || w.s.Services(w.env1)[2].Kind != "loadBalancerService" {
		t.Fatalf("a load balancer: %v %+v", err, coll)
	}

	// By id; another environment's service is not found.
	got, err := c.Service.ById(web)
	if err != nil || got == nil || got.Name != "web" {
		t.Fatalf("ById: %v %+v", err, got)
	}
	if got, err := c.Service.ById(other); err != nil || got != nil {
		t.Fatalf("ById of another environment: %v %+v", err, got)
	}

	// Images and states change; removed services leave the list.
	w.s.SetServiceImage(web, "nginx:2")
	w.s.SetSidekickImages(web, "redis")
	w.s.SetState(ext, "removed")
	w.s.SetState(web, "upgrading")
	coll, err = c.Service.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(serviceIDs(coll)) != "[1s1 1s4]" || coll.Data[0].State != "upgrading" || coll.Data[0].Transitioning != "yes" ||
		coll.Data[0].LaunchConfig.ImageUuid != "docker:nginx:2" || len(coll.Data[0].SecondaryLaunchConfigs) != 1 ||
		coll.Data[0].SecondaryLaunchConfigs[0].ImageUuid != "docker:redis" {
		t.Fatalf("after changes: %+v", coll.Data)
	}
	all := w.s.Services("")
	if len(all) != 4 || all[1].State != "removed" || all[0].Image != "nginx:2" || fmt.Sprint(all[0].Sidekicks) != "[redis]" {
		t.Fatalf("Services(): %+v", all)
	}

	// Account keys: the admin sees every environment's services unscoped, read-only; a member only its own.
	admin := dial(t, w.s.URL+"/v2-beta/schemas", w.admin)
	coll, err = admin.Service.List(nil)
	if err != nil || fmt.Sprint(serviceIDs(coll)) != "[1s1 1s3 1s4]" {
		t.Fatalf("admin: %v %v", err, serviceIDs(coll))
	}
	user := dial(t, w.s.URL+"/v2-beta/projects/"+w.env1+"/schemas", w.user)
	coll, err = user.Service.List(nil)
	if err != nil || fmt.Sprint(serviceIDs(coll)) != "[1s1 1s4]" {
		t.Fatalf("member: %v %v", err, serviceIDs(coll))
	}
}

func TestServicesPaginationAndFilters(t *testing.T) {
	w := newWorld(t, Options{})
	var want []string
	for i := 0; i < 205; i++ {
		want = append(want, w.s.AddService(w.env1, fmt.Sprint("svc", i), "nginx"))
	}
	c := dial(t, w.s.URL+"/v2-beta/projects/"+w.env1+"/schemas", w.envKey1)
	w.s.ResetRequests()
	coll, err := c.Service.List(&client.ListOpts{Filters: map[string]any{"limit": 100}})
	var got []string
	for err == nil && coll != nil {
		got = append(got, serviceIDs(coll)...)
		coll, err = coll.Next()
	}
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) || w.s.RequestCount() != 3 {
		t.Fatalf("%d services in %d requests", len(got), w.s.RequestCount())
	}
	coll, err = c.Service.List(&client.ListOpts{Filters: map[string]any{"name": "svc7", "stackId": "1st5"}})
	if err != nil || fmt.Sprint(serviceIDs(coll)) != "["+want[7]+"]" {
		t.Fatalf("filter: %v %v", err, serviceIDs(coll))
	}
	coll, err = c.Service.List(&client.ListOpts{Filters: map[string]any{"stackId": "1st6"}})
	if err != nil || len(coll.Data) != 0 {
		t.Fatalf("filter on another stack: %v %v", err, serviceIDs(coll))
	}
}

func TestServicesAreReadOnly(t *testing.T) {
	w := newWorld(t, Options{})
	id := w.s.AddService(w.env1, "web", "nginx")
	base := w.s.URL + "/v2-beta/projects/" + w.env1
	for _, r := range []struct{ method, path string }{
		{"POST", "/services"}, {"PUT", "/services/" + id}, {"DELETE", "/services/" + id}, {"POST", "/services/" + id + "?action=deactivate"},
	} {
		resp, b := do(t, r.method, base+r.path, w.envKey1, `{"name":"x"}`)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d %s", r.method, r.path, resp.StatusCode, b)
		}
	}
	if s := w.s.Services(w.env1); s[0].Name != "web" || s[0].State != "active" {
		t.Fatalf("changed: %+v", s)
	}
	resp, b := do(t, "GET", w.s.URL+"/v2-beta", w.envKey1, "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `/v2-beta/services"`) {
		t.Fatalf("API root: %s", b)
	}
}
