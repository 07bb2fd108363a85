package ranchertest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/ecr-updater/ecr-updater/internal/nodebug"
	client "github.com/rancher/go-rancher/v2"
)

// world is a small Rancher: two environments, keys, a registry and a credential in each.
type world struct {
	s                *Server
	env1, env2       string
	reg1, reg2       string
	cred1, cred2     string
	envKey1, envKey2 key
	user, admin      key
}

type key struct{ access, secret string }

func newWorld(t *testing.T, opts Options) *world {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	w := &world{s: s}
	w.env1 = s.AddEnvironment("Default")
	w.env2 = s.AddEnvironment("Other")
	w.envKey1 = key{"ENVKEY1", "envsecret1"}
	w.envKey2 = key{"ENVKEY2", "envsecret2"}
	w.user = key{"USERKEY", "usersecret"}
	w.admin = key{"ADMINKEY", "adminsecret"}
	s.AddEnvironmentKey(w.env1, w.envKey1.access, w.envKey1.secret)
	s.AddEnvironmentKey(w.env2, w.envKey2.access, w.envKey2.secret)
	s.AddAccountKey(w.user.access, w.user.secret, false, w.env1)
	s.AddAccountKey(w.admin.access, w.admin.secret, true)
	w.reg1 = s.AddRegistry(w.env1, "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "")
	w.reg2 = s.AddRegistry(w.env2, "123456789012.dkr.ecr.us-east-1.amazonaws.com", "")
	w.cred1 = s.AddCredential(w.env1, w.reg1, "AWS", "old1", "")
	w.cred2 = s.AddCredential(w.env2, w.reg2, "AWS", "old2", "")
	return w
}

func dial(t *testing.T, u string, k key) *client.RancherClient {
	t.Helper()
	c, err := client.NewRancherClient(&client.ClientOpts{Url: u, AccessKey: k.access, SecretKey: k.secret,
		Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("NewRancherClient(%s): %v", u, err)
	}
	return c
}

// do sends a raw request and returns the answer and its body.
func do(t *testing.T, method, u string, k key, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if k.access != "" {
		req.SetBasicAuth(k.access, k.secret)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return m
}

func apiError(t *testing.T, err error, status int) *client.ApiError {
	t.Helper()
	var ae *client.ApiError
	if !errors.As(err, &ae) {
		t.Fatalf("want *ApiError %d, got %T %v", status, err, err)
	}
	if ae.StatusCode != status {
		t.Fatalf("want status %d, got %d: %v", status, ae.StatusCode, err)
	}
	return ae
}

func regIDs(c *client.RegistryCollection) []string {
	var ids []string
	for _, r := range c.Data {
		ids = append(ids, r.Id)
	}
	return ids
}

func credIDs(c *client.RegistryCredentialCollection) []string {
	var ids []string
	for _, r := range c.Data {
		ids = append(ids, r.Id)
	}
	return ids
}

func TestIDs(t *testing.T) {
	w := newWorld(t, Options{})
	if w.env1 != "1a5" || w.env2 != "1a6" || w.reg1 != "1sp1" || w.reg2 != "1sp2" || w.cred1 != "1c1" || w.cred2 != "1c2" {
		t.Fatalf("ids: %s %s %s %s %s %s", w.env1, w.env2, w.reg1, w.reg2, w.cred1, w.cred2)
	}
	resp, _ := do(t, "GET", w.s.URL+"/v2-beta", w.user, "")
	if got := resp.Header.Get("X-API-Account-Id"); got != "1a1" {
		t.Fatalf("user account id %q", got)
	}
	if got := resp.Header.Get("X-API-Account-Kind"); got != "user" {
		t.Fatalf("user kind %q", got)
	}
	resp, _ = do(t, "GET", w.s.URL+"/v2-beta", w.admin, "")
	if resp.Header.Get("X-API-Account-Id") != "1a2" || resp.Header.Get("X-API-User-Id") != "1a2" ||
		resp.Header.Get("X-API-Account-Kind") != "admin" {
		t.Fatalf("admin headers %v", resp.Header)
	}
	resp, _ = do(t, "GET", w.s.URL+"/v2-beta", w.envKey1, "")
	if resp.Header.Get("X-API-Account-Id") != w.env1 || resp.Header.Get("X-API-Account-Kind") != "project" ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("env key headers %v", resp.Header)
	}
}

func TestConnectForms(t *testing.T) {
	w := newWorld(t, Options{})
	u := w.s.URL
	forms := []struct {
		url      string
		requests int
	}{
		{u + "/v1", 2},
		{u, 2},
		{u + "/v2-beta", 2},
		{u + "/v2-beta/", 2},
		{u + "/v2-beta/projects/" + w.env1, 2},
		{u + "/v2-beta/projects/" + w.env1 + "/schemas", 1},
	}
	for _, k := range []key{w.envKey1, w.user} {
		for _, f := range forms {
			w.s.ResetRequests()
			c := dial(t, f.url, k)
			if n := w.s.RequestCount(); n != f.requests {
				t.Errorf("%s %s: %d requests, want %d: %+v", k.access, f.url, n, f.requests, w.s.Requests())
			}
			regs, err := c.Registry.List(nil)
			if err != nil {
				t.Fatalf("%s %s: list registries: %v", k.access, f.url, err)
			}
			if got := regIDs(regs); len(got) != 1 || got[0] != w.reg1 {
				t.Errorf("%s %s: registries %v", k.access, f.url, got)
			}
			creds, err := c.RegistryCredential.List(nil)
			if err != nil {
				t.Fatalf("%s %s: list credentials: %v", k.access, f.url, err)
			}
			if got := credIDs(creds); len(got) != 1 || got[0] != w.cred1 {
				t.Errorf("%s %s: credentials %v", k.access, f.url, got)
			}
			if creds.Data[0].SecretValue != "" || creds.Data[0].PublicValue != "AWS" || creds.Data[0].RegistryId != w.reg1 {
				t.Errorf("credential %+v", creds.Data[0])
			}
		}
	}
	// The admin sees every environment unscoped.
	c := dial(t, u, w.admin)
	regs, err := c.Registry.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := regIDs(regs); fmt.Sprint(got) != fmt.Sprint([]string{w.reg1, w.reg2}) {
		t.Errorf("admin registries %v", got)
	}
	// The v1 root answers a v1 apiVersion.
	resp, b := do(t, "GET", u+"/v1", w.user, "")
	if resp.StatusCode != 200 || resp.Header.Get("X-API-Schemas") != u+"/v1/schemas" || decode(t, b)["id"] != "v1" {
		t.Errorf("/v1: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	resp, b = do(t, "GET", u+"/", w.user, "")
	m := decode(t, b)
	if resp.Header.Get("X-API-Schemas") != u+"/v2-beta/schemas" || m["type"] != "apiVersion" || m["id"] != "v2-beta" {
		t.Errorf("/: %v %s", resp.Header, b)
	}
	links := m["links"].(map[string]any)
	if links["registrycredentials"] != u+"/v2-beta/registrycredentials" || links["schemas"] != u+"/v2-beta/schemas" {
		t.Errorf("links %v", links)
	}
}

func TestPagination(t *testing.T) {
	w := newWorld(t, Options{})
	var want []string
	want = append(want, w.cred1)
	for i := 0; i < 249; i++ {
		want = append(want, w.s.AddCredential(w.env1, w.reg1, "AWS", fmt.Sprint("s", i), ""))
	}
	c := dial(t, w.s.URL+"/v2-beta/projects/"+w.env1+"/schemas", w.envKey1)

	w.s.ResetRequests()
	coll, err := c.RegistryCredential.List(&client.ListOpts{Filters: map[string]any{"limit": 100, "registryId": w.reg1}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var sizes []int
	for coll != nil {
		got = append(got, credIDs(coll)...)
		sizes = append(sizes, len(coll.Data))
		if *coll.Pagination.Limit != 100 {
			t.Fatalf("limit %d", *coll.Pagination.Limit)
		}
		if coll.Pagination.Partial != (coll.Pagination.Next != "") {
			t.Fatalf("partial %v next %q", coll.Pagination.Partial, coll.Pagination.Next)
		}
		if n := coll.Pagination.Next; n != "" && (!strings.Contains(n, "registryId="+w.reg1) || !strings.Contains(n, "limit=100")) {
			t.Fatalf("next lost the query: %s", n)
		}
		if coll, err = coll.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(sizes) != "[100 100 50]" || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages %v, ids %v", sizes, got)
	}
	if n := w.s.RequestCount(); n != 3 {
		t.Fatalf("%d requests for 3 pages", n)
	}
	reqs := w.s.Requests()
	if !strings.Contains(reqs[1].RawQuery, "marker=m100") || !strings.Contains(reqs[2].RawQuery, "marker=m200") {
		t.Fatalf("markers %q %q", reqs[1].RawQuery, reqs[2].RawQuery)
	}

	coll, err = c.RegistryCredential.List(&client.ListOpts{Filters: map[string]any{"limit": 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if len(coll.Data) != 250 || coll.Pagination.Next != "" || coll.Pagination.Partial {
		t.Fatalf("limit 1000: %d items, next %q", len(coll.Data), coll.Pagination.Next)
	}
	coll, err = c.RegistryCredential.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(coll.Data) != 100 || *coll.Pagination.Limit != 100 || !coll.Pagination.Partial {
		t.Fatalf("default page: %d", len(coll.Data))
	}

	// Filters that hide items inside a page still give full pages.
	w.s.SetState(want[3], "removed")
	coll, err = c.RegistryCredential.List(&client.ListOpts{Filters: map[string]any{"limit": 100}})
	if err != nil {
		t.Fatal(err)
	}
	if len(coll.Data) != 100 || coll.Data[3].Id != want[4] {
		t.Fatalf("page after removal: %d, [3]=%s", len(coll.Data), coll.Data[3].Id)
	}
	// An id marker starts after that id.
	_, b := do(t, "GET", w.s.URL+"/v2-beta/registrycredentials?limit=2&marker="+want[10], w.envKey1, "")
	var raw client.RegistryCredentialCollection
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Data) != 2 || raw.Data[0].Id != want[11] || !strings.Contains(raw.Pagination.Next, "marker="+want[12]) {
		t.Fatalf("id marker: %s", b)
	}
}

func TestPageSizeOptions(t *testing.T) {
	w := newWorld(t, Options{DefaultPageSize: 7, MaxPageSize: 20})
	for i := 0; i < 30; i++ {
		w.s.AddRegistry(w.env1, fmt.Sprintf("r%d.example.com", i), "")
	}
	c := dial(t, w.s.URL+"/v2-beta/projects/"+w.env1+"/schemas", w.user)
	coll, err := c.Registry.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(coll.Data) != 7 || *coll.Pagination.Limit != 7 {
		t.Fatalf("default page %d", len(coll.Data))
	}
	coll, err = c.Registry.List(&client.ListOpts{Filters: map[string]any{"limit": 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if len(coll.Data) != 20 || *coll.Pagination.Limit != 20 || !strings.Contains(coll.Pagination.Next, "limit=20") {
		t.Fatalf("capped page %d, next %s", len(coll.Data), coll.Pagination.Next)
	}
	total := 0
	for coll != nil {
		total += len(coll.Data)
		if coll, err = coll.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if total != 31 {
		t.Fatalf("total %d", total)
	}
	// limit <= 0 means Cattle's cap (3000; here MaxPageSize).
	for _, limit := range []int{0, -1} {
		coll, err = c.Registry.List(&client.ListOpts{Filters: map[string]any{"limit": limit}})
		if err != nil {
			t.Fatal(err)
		}
		if len(coll.Data) != 20 || *coll.Pagination.Limit != 20 {
			t.Fatalf("limit=%d: page of %d, limit %d; want the cap, 20", limit, len(coll.Data), *coll.Pagination.Limit)
		}
	}
}

// TestLimitZeroIsCattleCap: with Cattle's defaults, limit=0 and limit=-1 are pages of 3000.
func TestLimitZeroIsCattleCap(t *testing.T) {
	w := newWorld(t, Options{})
	for _, q := range []string{"limit=0", "limit=-1", "limit=-5"} {
		resp, b := do(t, "GET", w.s.URL+"/v2-beta/registries?"+q, w.envKey1, "")
		m := decode(t, b)
		if p, _ := m["pagination"].(map[string]any); resp.StatusCode != 200 || p["limit"] != 3000.0 {
			t.Fatalf("%s: %d pagination %v", q, resp.StatusCode, m["pagination"])
		}
	}
}

// TestAgentKeys: the keys Rancher makes for containers with the agent labels act in their environment only, like
// Environment API keys, and report the kinds Cattle's switchAccount gives them.
func TestAgentKeys(t *testing.T) {
	w := newWorld(t, Options{})
	w.s.AddAgentKey(w.env1, AgentRoleEnvironment, "AGENTKEY", "agentsecret")
	w.s.AddAgentKey(w.env1, AgentRoleEnvironmentAdmin, "AGENTADMIN", "agentadminsecret")
	for _, x := range []struct {
		k    key
		kind string
	}{{key{"AGENTKEY", "agentsecret"}, "environment"}, {key{"AGENTADMIN", "agentadminsecret"}, "projectadmin"}, {w.envKey1, "project"}} {
		resp, _ := do(t, "GET", w.s.URL+"/v1", x.k, "")
		if resp.StatusCode != 200 || resp.Header.Get("X-API-Account-Kind") != x.kind || resp.Header.Get("X-API-Account-Id") != w.env1 {
			t.Fatalf("%s: %d kind %q id %q", x.k.access, resp.StatusCode, resp.Header.Get("X-API-Account-Kind"), resp.Header.Get("X-API-Account-Id"))
		}
		// Unscoped lists are the environment's; another environment's scope is 403; its own scope writes.
		c := dial(t, w.s.URL+"/v2-beta", x.k)
		coll, err := c.Registry.List(nil)
		if err != nil || fmt.Sprint(regIDs(coll)) != fmt.Sprint([]string{w.reg1}) {
			t.Fatalf("%s: registries %v %v", x.k.access, regIDs(coll), err)
		}
		if resp, _ := do(t, "GET", w.s.URL+"/v2-beta/projects/"+w.env2+"/registries", x.k, ""); resp.StatusCode != 403 {
			t.Fatalf("%s: other environment %d", x.k.access, resp.StatusCode)
		}
		resp, b := do(t, "PUT", w.s.URL+"/v2-beta/projects/"+w.env1+"/registrycredentials/"+w.cred1, x.k, `{"secretValue":"by-`+x.kind+`"}`)
		if cr, _ := w.s.Credential(w.cred1); resp.StatusCode != 200 || cr.SecretValue != "by-"+x.kind {
			t.Fatalf("%s: PUT %d %s", x.k.access, resp.StatusCode, b)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("AddAgentKey with an unknown role did not panic")
		}
	}()
	w.s.AddAgentKey(w.env1, "agent", "X", "y")
}

// TestErrorCodes: Cattle's generic errors carry its own words as code and message.
func TestErrorCodes(t *testing.T) {
	w := newWorld(t, Options{})
	for _, x := range []struct {
		method, path string
		k            key
		status       int
		code         string
	}{
		{"GET", "/v2-beta/registries", key{"NOPE", "x"}, 401, "Unauthorized"},
		{"GET", "/v2-beta/projects/" + w.env2 + "/registries", w.envKey1, 403, "Forbidden"},
		{"GET", "/v2-beta/registries/1sp999", w.envKey1, 404, "Not Found"},
		{"GET", "/v2-beta/nothing", w.envKey1, 404, "Not Found"},
		{"DELETE", "/v2-beta/schemas", w.envKey1, 405, "Method not allowed"},
	} {
		resp, b := do(t, x.method, w.s.URL+x.path, x.k, "")
		if m := decode(t, b); resp.StatusCode != x.status || m["code"] != x.code || m["message"] != x.code || m["status"] != float64(x.status) {
			t.Errorf("%s %s: %d %s, want %d %q", x.method, x.path, resp.StatusCode, b, x.status, x.code)
		}
	}
}

func TestUpdateCredential(t *testing.T) {
	w := newWorld(t, Options{})
	c := dial(t, w.s.URL+"/v2-beta/projects/"+w.env1+"/schemas", w.envKey1)
	cred, err := c.RegistryCredential.ById(w.cred1)
	if err != nil || cred == nil {
		t.Fatalf("ById: %v %v", cred, err)
	}
	upd := map[string]any{"publicValue": "AWS", "secretValue": "x", "links": map[string]any{}, "actions": nil,
		"id": "1c99", "type": "registry", "state": "inactive", "registryId": w.reg2, "bogus": 1}
	w.s.ResetRequests()
	got, err := c.RegistryCredential.Update(cred, upd)
	if err != nil {
		t.Fatal(err)
	}
	if got.Id != w.cred1 || got.SecretValue != "" || got.State != "active" || got.RegistryId != w.reg1 {
		t.Fatalf("PUT answer %+v", got)
	}
	reqs := w.s.Requests()
	if len(reqs) != 1 || reqs[0].Method != "PUT" || reqs[0].Path != "/v2-beta/projects/"+w.env1+"/registrycredentials/"+w.cred1 ||
		reqs[0].AccessKey != w.envKey1.access || reqs[0].Status != 200 || !strings.Contains(string(reqs[0].Body), `"secretValue":"x"`) {
		t.Fatalf("records %+v", reqs)
	}
	stored, ok := w.s.Credential(w.cred1)
	if !ok || stored.SecretValue != "x" || stored.PublicValue != "AWS" || stored.Writes != 1 || stored.State != "active" ||
		stored.RegistryID != w.reg1 {
		t.Fatalf("stored %+v", stored)
	}
	// GET shows secretValue null.
	_, b := do(t, "GET", w.s.URL+"/v2-beta/registrycredentials/"+w.cred1, w.envKey1, "")
	if !strings.Contains(string(b), `"secretValue":null`) {
		t.Fatalf("GET: %s", b)
	}
	// The same values again change nothing.
	if _, err := c.RegistryCredential.Update(cred, map[string]any{"secretValue": "x"}); err != nil {
		t.Fatal(err)
	}
	if stored, _ := w.s.Credential(w.cred1); stored.Writes != 1 {
		t.Fatalf("writes %d", stored.Writes)
	}
	// Inactive credentials are updated too, and stay inactive.
	w.s.SetState(w.cred1, "inactive")
	got, err = c.RegistryCredential.Update(cred, map[string]any{"secretValue": "y"})
	if err != nil || got.State != "inactive" {
		t.Fatalf("inactive update: %v %+v", err, got)
	}
	if stored, _ := w.s.Credential(w.cred1); stored.Writes != 2 || stored.SecretValue != "y" || stored.State != "inactive" {
		t.Fatalf("stored %+v", stored)
	}
	// Removed, even purged: Cattle finds it by id whatever its state (getById ignores removed), writes it and
	// answers 200 in its state.
	for _, st := range []string{"removed", "purged"} {
		w.s.SetState(w.cred1, st)
		got, err = c.RegistryCredential.Update(cred, map[string]any{"secretValue": "z-" + st})
		if err != nil || got.State != st || got.Id != w.cred1 {
			t.Fatalf("PUT on a %s credential: %v %+v, want 200 in state %s", st, err, got, st)
		}
		if stored, _ := w.s.Credential(w.cred1); stored.SecretValue != "z-"+st {
			t.Fatalf("%s credential not written: %+v", st, stored)
		}
	}
	// Another environment's credential is still not found.
	_, err = c.RegistryCredential.Update(&client.RegistryCredential{Resource: client.Resource{
		Links: map[string]string{"self": w.s.URL + "/v2-beta/registrycredentials/" + w.cred2}}}, map[string]any{"secretValue": "z"})
	apiError(t, err, 404)
	// Not an object: 422 InvalidType; the body is not echoed.
	w.s.SetState(w.cred1, "active")
	resp, b := do(t, "PUT", w.s.URL+"/v2-beta/registrycredentials/"+w.cred1, w.envKey1, `["secretValue","leak"]`)
	if resp.StatusCode != 422 || decode(t, b)["code"] != "InvalidType" || strings.Contains(string(b), "leak") {
		t.Fatalf("bad body: %d %s", resp.StatusCode, b)
	}
	// A wrongly typed field: 422 InvalidType with the field.
	resp, b = do(t, "PUT", w.s.URL+"/v2-beta/registrycredentials/"+w.cred1, w.envKey1, `{"secretValue":5}`)
	if m := decode(t, b); resp.StatusCode != 422 || m["code"] != "InvalidType" || m["fieldName"] != "secretValue" {
		t.Fatalf("bad field: %d %s", resp.StatusCode, b)
	}
	// Registry: name updates, serverAddress is create-only.
	reg, err := c.Registry.ById(w.reg1)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.Registry.Update(reg, map[string]any{"name": "ecr", "serverAddress": "evil.example.com"})
	if err != nil || r2.Name != "ecr" || r2.ServerAddress != reg.ServerAddress {
		t.Fatalf("registry update %v %+v", err, r2)
	}
}

func TestCreate(t *testing.T) {
	w := newWorld(t, Options{})
	c := dial(t, w.s.URL+"/v2-beta/projects/"+w.env1+"/schemas", w.user)
	cred, err := c.RegistryCredential.Create(&client.RegistryCredential{RegistryId: w.reg1, PublicValue: "AWS",
		SecretValue: "new-secret", Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if cred.State != "registering" || cred.SecretValue != "new-secret" || cred.AccountId != w.env1 || cred.Name != "n" ||
		cred.Transitioning != "yes" {
		t.Fatalf("create answer %+v", cred)
	}
	if stored, ok := w.s.Credential(cred.Id); !ok || stored.State != "active" || stored.SecretValue != "new-secret" ||
		stored.Writes != 0 || stored.EnvID != w.env1 {
		t.Fatalf("stored %+v", stored)
	}
	got, err := c.RegistryCredential.ById(cred.Id)
	if err != nil || got.SecretValue != "" || got.State != "active" {
		t.Fatalf("get after create %v %+v", err, got)
	}

	reg, err := c.Registry.Create(&client.Registry{ServerAddress: "210987654321.dkr.ecr.eu-west-1.amazonaws.com"})
	if err != nil || reg.State != "registering" || reg.Id != "1sp3" || reg.Kind != "registry" {
		t.Fatalf("create registry %v %+v", err, reg)
	}
	// Same serverAddress, other case: 400 ServerAddressUsed, the code as message and no fieldName (Cattle's
	// ClientVisibleException(400, "ServerAddressUsed")). A registry in "removing" still counts.
	_, err = c.Registry.Create(&client.Registry{ServerAddress: "210987654321.DKR.ECR.EU-WEST-1.amazonaws.com"})
	ae := apiError(t, err, 400)
	if !strings.Contains(ae.Body, "code=ServerAddressUsed") || !strings.Contains(ae.Body, "message=ServerAddressUsed") ||
		strings.Contains(ae.Body, "fieldName") {
		t.Fatalf("body %q", ae.Body)
	}
	removing := w.s.AddRegistry(w.env1, "removing.example.com", "removing")
	resp, b := do(t, "POST", w.s.URL+"/v2-beta/projects/"+w.env1+"/registries", w.user, `{"serverAddress":"Removing.example.com"}`)
	if m := decode(t, b); resp.StatusCode != 400 || m["code"] != "ServerAddressUsed" || m["message"] != "ServerAddressUsed" {
		t.Fatalf("a registry in removing: %d %s", resp.StatusCode, b)
	}
	// An empty serverAddress: 422 MinLengthExceeded (absent: MissingRequired, below).
	resp, b = do(t, "POST", w.s.URL+"/v2-beta/projects/"+w.env1+"/registries", w.user, `{"serverAddress":""}`)
	if m := decode(t, b); resp.StatusCode != 422 || m["code"] != "MinLengthExceeded" || m["fieldName"] != "serverAddress" {
		t.Fatalf("empty serverAddress: %d %s", resp.StatusCode, b)
	}
	// The same address in another environment, or after removal, is fine.
	w.s.AddRegistry(w.env2, "210987654321.dkr.ecr.eu-west-1.amazonaws.com", "")
	w.s.SetState(reg.Id, "removed")
	if _, err = c.Registry.Create(&client.Registry{ServerAddress: "210987654321.dkr.ecr.eu-west-1.amazonaws.com"}); err != nil {
		t.Fatal(err)
	}
	// Missing registryId / serverAddress: 422 MissingRequired.
	_, err = c.RegistryCredential.Create(&client.RegistryCredential{PublicValue: "AWS", SecretValue: "s"})
	ae = apiError(t, err, 422)
	if !strings.Contains(ae.Body, "code=MissingRequired") || !strings.Contains(ae.Body, "fieldName=registryId") ||
		strings.Contains(ae.Body, "AWS") {
		t.Fatalf("body %q", ae.Body)
	}
	_, err = c.Registry.Create(&client.Registry{Name: "x"})
	ae = apiError(t, err, 422)
	if !strings.Contains(ae.Body, "code=MissingRequired") || !strings.Contains(ae.Body, "fieldName=serverAddress") {
		t.Fatalf("body %q", ae.Body)
	}
	// A credential may reference a removed registry (Cattle checks only that it exists in the environment).
	if _, err = c.RegistryCredential.Create(&client.RegistryCredential{RegistryId: reg.Id, SecretValue: "s"}); err != nil {
		t.Fatalf("credential of a removed registry: %v", err)
	}
	w.s.SetState(removing, "purged")
	// A registry of another environment, a purged one, or no registry: 422 InvalidReference.
	for _, ref := range []string{w.reg2, removing, "1sp999", w.cred1} {
		_, err = c.RegistryCredential.Create(&client.RegistryCredential{RegistryId: ref, SecretValue: "s"})
		ae = apiError(t, err, 422)
		if !strings.Contains(ae.Body, "code=InvalidReference") {
			t.Fatalf("%s: body %q", ref, ae.Body)
		}
	}
	if n := len(w.s.Credentials(w.env1)); n != 3 {
		t.Fatalf("%d credentials", n)
	}
}

func TestAccountKeyScopes(t *testing.T) {
	w := newWorld(t, Options{})
	// Unscoped: read-only, go-rancher refuses before sending anything.
	c := dial(t, w.s.URL+"/v2-beta/projects/"+w.env1, w.admin)
	creds, err := c.RegistryCredential.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := credIDs(creds); fmt.Sprint(got) != fmt.Sprint([]string{w.cred1, w.cred2}) {
		t.Fatalf("admin unscoped credentials %v", got)
	}
	w.s.ResetRequests()
	_, err = c.RegistryCredential.Update(&creds.Data[0], map[string]any{"secretValue": "x"})
	if err == nil || err.Error() != "Resource type [registryCredential] is not updatable" {
		t.Fatalf("unscoped update: %v", err)
	}
	_, err = c.RegistryCredential.Create(&client.RegistryCredential{RegistryId: w.reg1})
	if err == nil || !strings.Contains(err.Error(), "is not creatable") {
		t.Fatalf("unscoped create: %v", err)
	}
	if n := w.s.RequestCount(); n != 0 {
		t.Fatalf("%d requests", n)
	}
	// The wire agrees: PUT or POST there is 405.
	resp, b := do(t, "PUT", creds.Data[0].Links["self"], w.admin, `{"secretValue":"x"}`)
	if m := decode(t, b); resp.StatusCode != 405 || m["code"] != "Method not allowed" || m["message"] != "Method not allowed" {
		t.Fatalf("unscoped PUT: %d %s", resp.StatusCode, b)
	}
	resp, _ = do(t, "POST", w.s.URL+"/v2-beta/registrycredentials", w.admin, `{"registryId":"1sp1"}`)
	if resp.StatusCode != 405 {
		t.Fatalf("unscoped POST: %d", resp.StatusCode)
	}
	if stored, _ := w.s.Credential(w.cred1); stored.SecretValue != "old1" {
		t.Fatalf("written: %+v", stored)
	}
	// Scoped: full rights.
	for _, k := range []key{w.admin, w.user} {
		sc := dial(t, w.s.URL+"/v2-beta/projects/"+w.env1+"/schemas", k)
		cl, err := sc.RegistryCredential.List(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := credIDs(cl); len(got) != 1 || got[0] != w.cred1 {
			t.Fatalf("scoped list %v", got)
		}
		if _, err := sc.RegistryCredential.Update(&cl.Data[0], map[string]any{"secretValue": "by-" + k.access}); err != nil {
			t.Fatal(err)
		}
		if stored, _ := w.s.Credential(w.cred1); stored.SecretValue != "by-"+k.access {
			t.Fatalf("stored %+v", stored)
		}
	}
	// A user who is not a member: 403 on the scoped path; the unscoped list leaves that environment out.
	_, err = client.NewRancherClient(&client.ClientOpts{Url: w.s.URL + "/v2-beta/projects/" + w.env2 + "/schemas",
		AccessKey: w.user.access, SecretKey: w.user.secret})
	apiError(t, err, 403)
	uc := dial(t, w.s.URL, w.user)
	if cr, err := uc.RegistryCredential.ById(w.cred2); err != nil || cr != nil {
		t.Fatalf("non-member by id: %v %v", cr, err)
	}
	// The schemas say why.
	_, b = do(t, "GET", w.s.URL+"/v2-beta/schemas/registrycredential", w.user, "")
	var sch client.Schema
	if err := json.Unmarshal(b, &sch); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sch.ResourceMethods) != "[GET]" || fmt.Sprint(sch.CollectionMethods) != "[GET]" ||
		sch.Links["collection"] != w.s.URL+"/v2-beta/registrycredentials" {
		t.Fatalf("unscoped schema %+v", sch)
	}
	_, b = do(t, "GET", w.s.URL+"/v2-beta/projects/"+w.env1+"/schemas/registryCredential", w.user, "")
	if err := json.Unmarshal(b, &sch); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sch.ResourceMethods) != "[GET PUT DELETE]" || fmt.Sprint(sch.CollectionMethods) != "[GET POST]" ||
		sch.Links["collection"] != w.s.URL+"/v2-beta/projects/"+w.env1+"/registrycredentials" {
		t.Fatalf("scoped schema %+v", sch)
	}
}

func TestEnvKeyIsolation(t *testing.T) {
	w := newWorld(t, Options{})
	c := dial(t, w.s.URL+"/v2-beta", w.envKey1)
	// The env key's unscoped schemas are writable, and it writes through unscoped links.
	creds, err := c.RegistryCredential.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := credIDs(creds); len(got) != 1 || got[0] != w.cred1 {
		t.Fatalf("credentials %v", got)
	}
	if _, err := c.RegistryCredential.Update(&creds.Data[0], map[string]any{"secretValue": "s"}); err != nil {
		t.Fatal(err)
	}
	if cr, err := c.RegistryCredential.ById(w.cred2); err != nil || cr != nil {
		t.Fatalf("other env by id: %v %v", cr, err)
	}
	if r, err := c.Registry.ById(w.reg2); err != nil || r != nil {
		t.Fatalf("other env registry by id: %v %v", r, err)
	}
	_, err = client.NewRancherClient(&client.ClientOpts{Url: w.s.URL + "/v2-beta/projects/" + w.env2 + "/schemas",
		AccessKey: w.envKey1.access, SecretKey: w.envKey1.secret})
	apiError(t, err, 403)
	resp, b := do(t, "GET", w.s.URL+"/v2-beta/projects/"+w.env2+"/registries", w.envKey1, "")
	if resp.StatusCode != 403 || decode(t, b)["code"] != "Forbidden" {
		t.Fatalf("scoped other: %d %s", resp.StatusCode, b)
	}
	resp, _ = do(t, "PUT", w.s.URL+"/v2-beta/registrycredentials/"+w.cred2, w.envKey1, `{"secretValue":"x"}`)
	if resp.StatusCode != 404 {
		t.Fatalf("PUT other env: %d", resp.StatusCode)
	}
	if stored, _ := w.s.Credential(w.cred2); stored.SecretValue != "old2" {
		t.Fatal("other environment written")
	}
	// Projects: only its own.
	projects, err := c.Project.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(projects.Data) != 1 || projects.Data[0].Id != w.env1 || projects.Data[0].Orchestration != "cattle" {
		t.Fatalf("projects %+v", projects.Data)
	}
	resp, _ = do(t, "GET", w.s.URL+"/v2-beta/projects/"+w.env2, w.envKey1, "")
	if resp.StatusCode != 403 {
		t.Fatalf("other project: %d", resp.StatusCode)
	}
	resp, b = do(t, "GET", w.s.URL+"/v2-beta/projects/"+w.env1, w.envKey1, "")
	if resp.StatusCode != 200 || resp.Header.Get("X-API-Schemas") != w.s.URL+"/v2-beta/schemas" || decode(t, b)["name"] != "Default" {
		t.Fatalf("own project: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	// An inactive environment's key no longer authenticates.
	w.s.SetEnvironmentState(w.env1, "inactive")
	_, err = c.Registry.List(nil)
	apiError(t, err, 401)
}

func TestProjects(t *testing.T) {
	w := newWorld(t, Options{})
	e3 := w.s.AddEnvironment("Third")
	w.s.AddAccountKey("U2", "s2", false, e3, w.env1, "1a999")
	list := func(k key, query string) []string {
		_, b := do(t, "GET", w.s.URL+"/v2-beta/projects"+query, k, "")
		var pc client.ProjectCollection
		if err := json.Unmarshal(b, &pc); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range pc.Data {
			ids = append(ids, p.Id)
		}
		return ids
	}
	if got := list(w.admin, ""); fmt.Sprint(got) != fmt.Sprint([]string{w.env1, w.env2, e3}) {
		t.Fatalf("admin %v", got)
	}
	if got := list(key{"U2", "s2"}, ""); fmt.Sprint(got) != fmt.Sprint([]string{w.env1, e3}) {
		t.Fatalf("member %v", got)
	}
	if got := list(w.admin, "?name=Other"); fmt.Sprint(got) != fmt.Sprint([]string{w.env2}) {
		t.Fatalf("filtered %v", got)
	}
	w.s.SetEnvironmentState(w.env2, "removed")
	if got := list(w.admin, ""); fmt.Sprint(got) != fmt.Sprint([]string{w.env1, e3}) {
		t.Fatalf("after removal %v", got)
	}
	// A scoped path of a missing (or removed) project: 403 for every key, an administrator's too.
	for _, k := range []key{w.admin, w.user} {
		for _, path := range []string{"/v2-beta/projects/" + w.env2 + "/schemas", "/v2-beta/projects/1a77/registries"} {
			resp, b := do(t, "GET", w.s.URL+path, k, "")
			if m := decode(t, b); resp.StatusCode != 403 || m["code"] != "Forbidden" {
				t.Fatalf("%s with %s: %d %s", path, k.access, resp.StatusCode, b)
			}
		}
	}
	resp, _ := do(t, "GET", w.s.URL+"/v2-beta/projects/"+w.env1+"/registries", w.admin, "")
	if resp.StatusCode != 200 {
		t.Fatalf("an existing project with the admin key: %d", resp.StatusCode)
	}
	resp, _ = do(t, "GET", w.s.URL+"/v2-beta/projects/1a77", w.admin, "")
	if resp.StatusCode != 404 {
		t.Fatalf("unknown project: %d", resp.StatusCode)
	}
	resp, _ = do(t, "GET", w.s.URL+"/v2-beta/projects/"+e3, w.user, "")
	if resp.StatusCode != 403 {
		t.Fatalf("non-member project: %d", resp.StatusCode)
	}
}

func TestUnauthorized(t *testing.T) {
	w := newWorld(t, Options{})
	for _, k := range []key{{"ENVKEY1", "wrong"}, {"NOPE", "x"}, {}} {
		_, err := client.NewRancherClient(&client.ClientOpts{Url: w.s.URL, AccessKey: k.access, SecretKey: k.secret})
		apiError(t, err, 401)
	}
	resp, b := do(t, "GET", w.s.URL+"/v2-beta/projects/"+w.env1+"/registries", key{"ENVKEY1", "wrong"}, "")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != challenge ||
		resp.Header.Get("X-API-Schemas") != w.s.URL+"/v2-beta/projects/"+w.env1+"/schemas" {
		t.Fatalf("401: %d %v", resp.StatusCode, resp.Header)
	}
	m := decode(t, b)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if fmt.Sprint(keys) != "[actions baseType code detail id links message status type]" ||
		m["code"] != "Unauthorized" || m["message"] != "Unauthorized" || m["status"] != 401.0 || m["type"] != "error" ||
		m["baseType"] != "error" || m["detail"] != nil || m["id"] == "" {
		t.Fatalf("error body %s", b)
	}
	resp, _ = do(t, "GET", w.s.URL+"/v2-beta", key{}, "", "X-API-No-Challenge", "true")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("no challenge: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestStates(t *testing.T) {
	w := newWorld(t, Options{})
	states := []string{"requested", "registering", "inactive", "activating", "deactivating", "updating-active",
		"removing", "removed", "purged"}
	ids := map[string]string{}
	for _, st := range states {
		ids[st] = w.s.AddCredential(w.env1, w.reg1, "AWS", st, st)
	}
	c := dial(t, w.s.URL+"/v2-beta/projects/"+w.env1+"/schemas", w.envKey1)
	coll, err := c.RegistryCredential.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, cr := range coll.Data {
		seen[cr.State] = true
	}
	for _, st := range states {
		if seen[st] == (st == "removed" || st == "purged") {
			t.Errorf("state %s listed: %v", st, seen[st])
		}
	}
	coll, err = c.RegistryCredential.List(&client.ListOpts{Filters: map[string]any{"removed_notnull": true}})
	if err != nil {
		t.Fatal(err)
	}
	if got := credIDs(coll); fmt.Sprint(got) != fmt.Sprint([]string{ids["removed"], ids["purged"]}) {
		t.Fatalf("removed_notnull %v", got)
	}
	if coll.Data[0].Removed == "" {
		t.Fatalf("removed time missing")
	}
	// By id: removed is still there, purged is gone.
	if cr, err := c.RegistryCredential.ById(ids["removed"]); err != nil || cr == nil || cr.State != "removed" {
		t.Fatalf("removed by id %v %v", cr, err)
	}
	if cr, err := c.RegistryCredential.ById(ids["purged"]); err != nil || cr != nil {
		t.Fatalf("purged by id %v %v", cr, err)
	}
	// DELETE active: Cattle's generic 405; inactive: removed.
	active, _ := c.RegistryCredential.ById(w.cred1)
	err = c.RegistryCredential.Delete(active)
	apiError(t, err, 405) // go-rancher drops the body of a failed DELETE
	resp, b := do(t, "DELETE", active.Links["self"], w.envKey1, "")
	if resp.StatusCode != 405 || decode(t, b)["code"] != "Method not allowed" {
		t.Fatalf("DELETE active: %d %s", resp.StatusCode, b)
	}
	// An action not available in the state (or unknown): 422 ActionNotAvailable.
	for _, a := range []string{"activate", "purge", "remove", "fly"} {
		resp, b = do(t, "POST", active.Links["self"]+"/?action="+a, w.envKey1, "")
		if m := decode(t, b); resp.StatusCode != 422 || m["code"] != "ActionNotAvailable" {
			t.Fatalf("action %s on an active credential: %d %s", a, resp.StatusCode, b)
		}
	}
	inactive, _ := c.RegistryCredential.ById(ids["inactive"])
	if err := c.RegistryCredential.Delete(inactive); err != nil {
		t.Fatal(err)
	}
	if cr, _ := w.s.Credential(ids["inactive"]); cr.State != "removed" {
		t.Fatalf("after delete %+v", cr)
	}
	// Actions.
	if _, err := c.RegistryCredential.ActionDeactivate(active); err != nil {
		t.Fatal(err)
	}
	deact, _ := c.RegistryCredential.ById(w.cred1)
	if deact.State != "inactive" || deact.Actions["remove"] == "" || !strings.HasSuffix(deact.Actions["remove"], "/"+w.cred1+"/?action=remove") {
		t.Fatalf("after deactivate %+v", deact)
	}
	if _, err := c.RegistryCredential.ActionRemove(deact); err != nil {
		t.Fatal(err)
	}
	if cr, _ := w.s.Credential(w.cred1); cr.State != "removed" {
		t.Fatalf("after remove %+v", cr)
	}
	// Purging a registry removes its credentials.
	reg, _ := c.Registry.ById(w.reg1)
	w.s.SetState(w.reg1, "removed")
	reg, _ = c.Registry.ById(reg.Id)
	if _, err := c.Registry.ActionPurge(reg); err != nil {
		t.Fatal(err)
	}
	for _, cr := range w.s.Credentials(w.env1) {
		if !hiddenState(cr.State) {
			t.Fatalf("credential %s left %s", cr.ID, cr.State)
		}
	}
	if r := w.s.Registries(w.env1); len(r) != 1 || r[0].State != "purged" {
		t.Fatalf("registries %+v", r)
	}
}

func TestFilters(t *testing.T) {
	w := newWorld(t, Options{})
	a := w.s.AddRegistry(w.env1, "a.example.com", "inactive")
	b := w.s.AddRegistry(w.env1, "b.example.com", "")
	w.s.mu.Lock()
	w.s.st.byID[a].name = "alpha-one"
	w.s.st.byID[b].name = "beta"
	w.s.mu.Unlock()
	ca := w.s.AddCredential(w.env1, a, "AWS", "s", "")
	get := func(coll, query string) ([]string, map[string]any) {
		t.Helper()
		resp, body := do(t, "GET", w.s.URL+"/v2-beta/projects/"+w.env1+"/"+coll+"?"+query, w.envKey1, "")
		if resp.StatusCode != 200 {
			t.Fatalf("%s?%s: %d %s", coll, query, resp.StatusCode, body)
		}
		m := decode(t, body)
		var ids []string
		for _, d := range m["data"].([]any) {
			ids = append(ids, d.(map[string]any)["id"].(string))
		}
		return ids, m
	}
	cases := []struct {
		coll, query string
		want        []string
	}{
		{"registries", "", []string{w.reg1, a, b}},
		{"registries", "state=inactive", []string{a}},
		{"registries", "state_ne=inactive", []string{w.reg1, b}},
		{"registries", "state=inactive&state=active", []string{w.reg1, a, b}},
		{"registries", "name_prefix=alpha", []string{a}},
		{"registries", "name_like=%25ha-o%25", []string{a}},
		{"registries", "name_like=b_ta", []string{b}},
		{"registries", "name_null=true", []string{w.reg1}},
		{"registries", "name_notnull=true", []string{a, b}},
		{"registries", "serverAddress=a.example.com", []string{w.reg1, a, b}},
		{"registries", "bogus=1&sort=name&order=desc", []string{w.reg1, a, b}},
		{"registries", "id_gt=" + w.reg1, []string{a, b}},
		{"registrycredentials", "registryId=" + a, []string{ca}},
		{"registryCredentials", "publicValue=AWS&registryId_ne=" + a, []string{w.cred1}},
		{"storagepools", "", []string{w.reg1, a, b}},
		{"credentials", "", []string{w.cred1, ca}},
	}
	for _, tc := range cases {
		got, _ := get(tc.coll, tc.query)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s?%s: %v, want %v", tc.coll, tc.query, got, tc.want)
		}
	}
	_, m := get("registrycredentials", "registryId="+a+"&bogus=2")
	filters := m["filters"].(map[string]any)
	if fmt.Sprint(filters["registryId"]) != fmt.Sprintf("[map[modifier:eq value:%s]]", a) || filters["name"] != nil {
		t.Fatalf("filters %v", filters)
	}
	if _, ok := filters["bogus"]; ok {
		t.Fatal("unknown filter echoed")
	}
	if m["resourceType"] != "registryCredential" || m["sort"] != nil || m["createDefaults"] == nil {
		t.Fatalf("collection %v", m)
	}
	pag := m["pagination"].(map[string]any)
	if pag["next"] != nil || pag["partial"] != false || pag["limit"] != 100.0 || pag["total"] != nil {
		t.Fatalf("pagination %v", pag)
	}
	self := m["links"].(map[string]any)["self"].(string)
	if !strings.HasPrefix(self, w.s.URL+"/v2-beta/projects/"+w.env1+"/registrycredentials?") {
		t.Fatalf("self %s", self)
	}
}

func TestFaults(t *testing.T) {
	w := newWorld(t, Options{})
	scoped := w.s.URL + "/v2-beta/projects/" + w.env1 + "/schemas"
	c := dial(t, scoped, w.envKey1)

	t.Run("status and times", func(t *testing.T) {
		w.s.ResetRequests()
		w.s.AddFault(Fault{PathContains: "REGISTRYcredentials", Status: 503, Times: 2})
		for i := 0; i < 2; i++ {
			_, err := c.RegistryCredential.List(nil)
			ae := apiError(t, err, 503)
			if !strings.Contains(ae.Body, "code=ServiceUnavailable") {
				t.Fatalf("body %q", ae.Body)
			}
		}
		if _, err := c.Registry.List(nil); err != nil {
			t.Fatalf("other path: %v", err)
		}
		if _, err := c.RegistryCredential.List(nil); err != nil {
			t.Fatalf("after Times: %v", err)
		}
		var st []int
		for _, r := range w.s.Requests() {
			st = append(st, r.Status)
		}
		if fmt.Sprint(st) != "[503 503 200 200]" {
			t.Fatalf("statuses %v", st)
		}
	})
	t.Run("method and until cleared", func(t *testing.T) {
		w.s.AddFault(Fault{Method: "put", Status: 500})
		cred, _ := c.RegistryCredential.ById(w.cred1)
		for i := 0; i < 3; i++ {
			_, err := c.RegistryCredential.Update(cred, map[string]any{"secretValue": "x"})
			apiError(t, err, 500)
		}
		w.s.ClearFaults()
		if _, err := c.RegistryCredential.Update(cred, map[string]any{"secretValue": "x"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("delay", func(t *testing.T) {
		w.s.AddFault(Fault{Delay: 150 * time.Millisecond, Times: 1})
		start := time.Now()
		if _, err := c.Registry.List(nil); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Fatalf("answered after %v", d)
		}
	})
	t.Run("hang", func(t *testing.T) {
		w.s.ResetRequests()
		short, err := client.NewRancherClient(&client.ClientOpts{Url: scoped, AccessKey: w.envKey1.access,
			SecretKey: w.envKey1.secret, Timeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		w.s.AddFault(Fault{Hang: true, Times: 1})
		start := time.Now()
		if _, err := short.Registry.List(nil); err == nil {
			t.Fatal("hang answered")
		}
		if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
			t.Fatalf("gave up after %v", d)
		}
		if _, err := short.Registry.List(nil); err != nil {
			t.Fatal(err)
		}
		// The hanging handler returns once the client has gone.
		deadline := time.Now().Add(2 * time.Second)
		for {
			reqs := w.s.Requests()
			if len(reqs) == 3 && reqs[1].Status == 0 && reqs[2].Status == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("records %+v", reqs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("drop", func(t *testing.T) {
		w.s.ResetRequests()
		w.s.AddFault(Fault{Method: "POST", Drop: true, Times: 1})
		_, err := c.RegistryCredential.Create(&client.RegistryCredential{RegistryId: w.reg1, SecretValue: "s"})
		if err == nil {
			t.Fatal("drop answered")
		}
		var ae *client.ApiError
		if errors.As(err, &ae) {
			t.Fatalf("drop gave an API error: %v", err)
		}
		if n := w.s.RequestCount(); n != 1 {
			t.Fatalf("%d requests", n)
		}
		if len(w.s.Credentials(w.env1)) != 1 {
			t.Fatal("dropped create stored")
		}
		// A GET dropped every time fails even with the transport's retry.
		w.s.AddFault(Fault{Method: "GET", Drop: true})
		if _, err := c.Registry.List(nil); err == nil {
			t.Fatal("drop answered")
		}
		w.s.ClearFaults()
		if _, err := c.Registry.List(nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		w.s.AddFault(Fault{Garbage: true, Times: 2})
		if _, err := c.Registry.List(nil); err == nil || !strings.Contains(err.Error(), "Failed to parse") {
			t.Fatalf("garbage: %v", err)
		}
		resp, b := do(t, "GET", scoped, w.envKey1, "")
		if resp.StatusCode != 200 || resp.Header.Get("X-API-Schemas") != scoped || json.Valid(b) {
			t.Fatalf("garbage: %d %v %s", resp.StatusCode, resp.Header, b)
		}
		if _, err := c.Registry.List(nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSetDown(t *testing.T) {
	w := newWorld(t, Options{})
	c := dial(t, w.s.URL+"/v2-beta", w.envKey1)
	w.s.SetDown(true)
	w.s.SetDown(true)
	_, err := client.NewRancherClient(&client.ClientOpts{Url: w.s.URL, AccessKey: w.envKey1.access,
		SecretKey: w.envKey1.secret, Timeout: time.Second})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("down: %v", err)
	}
	if _, err := c.Registry.List(nil); err == nil {
		t.Fatal("down: list answered")
	}
	w.s.SetDown(false)
	if _, err := c.Registry.List(nil); err != nil {
		t.Fatalf("up again: %v", err)
	}
	dial(t, w.s.URL, w.envKey1)
	// A request hanging while the server goes down fails at once.
	w.s.AddFault(Fault{Hang: true, Times: 1})
	w.s.ResetRequests()
	done := make(chan error, 1)
	go func() {
		_, err := c.Registry.List(nil)
		done <- err
	}()
	for w.s.RequestCount() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	w.s.SetDown(true)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("hanging request answered")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("hanging request still waiting after SetDown(true)")
	}
	w.s.SetDown(false)
	// Down and up again quickly, twice.
	for i := 0; i < 2; i++ {
		w.s.SetDown(true)
		w.s.SetDown(false)
	}
	if _, err := c.Registry.List(nil); err != nil {
		t.Fatalf("up again: %v", err)
	}
}

func TestOnRequestAndLatency(t *testing.T) {
	w := newWorld(t, Options{Latency: 50 * time.Millisecond})
	c := dial(t, w.s.URL+"/v2-beta/projects/"+w.env1+"/schemas", w.envKey1)
	extra := w.s.AddCredential(w.env1, w.reg1, "AWS", "s", "")
	var once sync.Once
	var seenBody string
	w.s.OnRequest(func(r *http.Request) {
		if strings.Contains(r.URL.Path, "registrycredentials") {
			once.Do(func() { w.s.SetState(extra, "removed") })
		}
		if r.Method == "PUT" {
			b, _ := io.ReadAll(r.Body)
			seenBody = string(b)
		}
	})
	start := time.Now()
	coll, err := c.RegistryCredential.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("latency: %v", d)
	}
	if got := credIDs(coll); len(got) != 1 || got[0] != w.cred1 {
		t.Fatalf("hook did not remove mid-pass: %v", got)
	}
	w.s.SetLatency(0)
	if _, err := c.RegistryCredential.Update(&coll.Data[0], map[string]any{"secretValue": "hooked"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(seenBody, "hooked") {
		t.Fatalf("hook saw body %q", seenBody)
	}
	if stored, _ := w.s.Credential(w.cred1); stored.SecretValue != "hooked" {
		t.Fatal("body consumed by the hook")
	}
	w.s.OnRequest(nil)
}

func TestEscapeSlashes(t *testing.T) {
	w := newWorld(t, Options{EscapeSlashes: true})
	_, b := do(t, "GET", w.s.URL+"/v2-beta/projects/"+w.env1+"/registries", w.envKey1, "")
	if !strings.Contains(string(b), `http:\/\/127.0.0.1`) || strings.Contains(string(b), "http://") {
		t.Fatalf("slashes not escaped: %s", b)
	}
	c := dial(t, w.s.URL, w.envKey1)
	coll, err := c.RegistryCredential.List(nil)
	if err != nil {
		t.Fatal(err)
	}
	if self := coll.Data[0].Links["self"]; self != w.s.URL+"/v2-beta/registrycredentials/"+w.cred1 {
		t.Fatalf("self %s", self)
	}
	if _, err := c.RegistryCredential.Update(&coll.Data[0], map[string]any{"secretValue": "a/b"}); err != nil {
		t.Fatal(err)
	}
	if stored, _ := w.s.Credential(w.cred1); stored.SecretValue != "a/b" {
		t.Fatalf("stored %+v", stored)
	}
}

func TestTLS(t *testing.T) {
	w := newWorld(t, Options{TLS: true})
	if !strings.HasPrefix(w.s.URL, "https://127.0.0.1:") {
		t.Fatalf("URL %s", w.s.URL)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(w.s.CAPEM()) {
		t.Fatal("CAPEM")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for _, origin := range []string{w.s.URL, strings.Replace(w.s.URL, "127.0.0.1", "localhost", 1)} {
		req, _ := http.NewRequest("GET", origin+"/v2-beta/projects/"+w.env1+"/registries", nil)
		req.SetBasicAuth(w.envKey1.access, w.envKey1.secret)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", origin, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-API-Schemas") != origin+"/v2-beta/projects/"+w.env1+"/schemas" ||
			!strings.Contains(string(b), `"self":"`+origin+"/v2-beta/projects/") {
			t.Fatalf("%s: %d %v %s", origin, resp.StatusCode, resp.Header, b)
		}
	}
	// Drop over TLS: the connection closes without an answer.
	w.s.AddFault(Fault{Method: "POST", Drop: true, Times: 1})
	req, _ := http.NewRequest("POST", w.s.URL+"/v2-beta/registries", strings.NewReader(`{"serverAddress":"x"}`))
	req.SetBasicAuth(w.envKey1.access, w.envKey1.secret)
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("drop answered: %d", resp.StatusCode)
	}
	if n := len(w.s.Registries(w.env1)); n != 1 {
		t.Fatalf("%d registries", n)
	}
	plain := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	var uerr x509.UnknownAuthorityError
	if _, err := plain.Get(w.s.URL + "/v2-beta"); !errors.As(err, &uerr) {
		t.Fatalf("untrusted: %v", err)
	}
	if New(Options{}).CAPEM() != nil {
		t.Fatal("CAPEM without TLS")
	}
}

func TestSchemasAndPaths(t *testing.T) {
	w := newWorld(t, Options{})
	_, b := do(t, "GET", w.s.URL+"/v2-beta/projects/"+w.env1+"/schemas", w.envKey1, "")
	var schemas client.Schemas
	if err := json.Unmarshal(b, &schemas); err != nil {
		t.Fatal(err)
	}
	have := map[string]client.Schema{}
	for _, s := range schemas.Data {
		have[s.Id] = s
	}
	for _, id := range []string{"apiVersion", "schema", "error", "collection", "project", "registry",
		"registryCredential", "credential", "storagePool"} {
		if _, ok := have[id]; !ok {
			t.Errorf("schema %s missing", id)
		}
	}
	reg := have["registry"]
	if reg.Links["collection"] != w.s.URL+"/v2-beta/projects/"+w.env1+"/registries" || reg.PluralName != "registries" ||
		!reg.ResourceFields["serverAddress"].Required || reg.ResourceFields["serverAddress"].Update {
		t.Fatalf("registry schema %+v", reg)
	}
	if _, ok := reg.CollectionFilters["serverAddress"]; ok {
		t.Fatal("serverAddress filterable")
	}
	if _, ok := have["registryCredential"].CollectionFilters["registryId"]; !ok {
		t.Fatal("registryId not filterable")
	}
	// Paths are case-insensitive; unknown ones are 404; wrong methods 405.
	resp, _ := do(t, "GET", w.s.URL+"/V2-BETA/projects/"+w.env1+"/registryCredentials/"+w.cred1+"/", w.envKey1, "")
	if resp.StatusCode != 200 {
		t.Fatalf("case: %d", resp.StatusCode)
	}
	for _, p := range []string{"/v3", "/v2-beta/nothing", "/v2-beta/registries/1sp1/x", "/v2-beta/schemas/nothing",
		"/v2-beta/registries/1c1"} {
		if resp, _ := do(t, "GET", w.s.URL+p, w.envKey1, ""); resp.StatusCode != 404 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := do(t, "DELETE", w.s.URL+"/v2-beta/registries", w.envKey1, ""); resp.StatusCode != 405 {
		t.Errorf("DELETE collection: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "POST", w.s.URL+"/v2-beta/schemas", w.envKey1, "{}"); resp.StatusCode != 405 {
		t.Errorf("POST schemas: %d", resp.StatusCode)
	}
}

func TestRecords(t *testing.T) {
	w := newWorld(t, Options{MaxRecords: 3})
	for i := 0; i < 10; i++ {
		do(t, "GET", w.s.URL+fmt.Sprintf("/v2-beta/registries?i=%d", i), w.envKey1, "")
	}
	reqs := w.s.Requests()
	if w.s.RequestCount() != 10 || len(reqs) != 3 || reqs[0].RawQuery != "i=7" || reqs[2].RawQuery != "i=9" ||
		reqs[2].Status != 200 || reqs[2].AccessKey != w.envKey1.access || reqs[2].Path != "/v2-beta/registries" {
		t.Fatalf("records %d %+v", w.s.RequestCount(), reqs)
	}
	w.s.ResetRequests()
	if w.s.RequestCount() != 0 || len(w.s.Requests()) != 0 {
		t.Fatal("reset")
	}
	none := New(Options{MaxRecords: -1})
	defer none.Close()
	do(t, "GET", none.URL, key{}, "")
	if none.RequestCount() != 1 || len(none.Requests()) != 0 {
		t.Fatal("MaxRecords -1")
	}
}

func TestCloseReleasesHang(t *testing.T) {
	s := New(Options{})
	s.AddFault(Fault{Hang: true})
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get(s.URL + "/v2-beta")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for s.RequestCount() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := <-done; err == nil {
		t.Fatal("hang answered")
	}
	s.Close()
}

func TestConcurrent(t *testing.T) {
	s := New(Options{MaxRecords: 100})
	defer s.Close()
	const envs, regs = 8, 20
	type envInfo struct {
		id    string
		k     key
		creds []string
	}
	var all []envInfo
	for e := 0; e < envs; e++ {
		id := s.AddEnvironment(fmt.Sprint("env", e))
		k := key{fmt.Sprint("K", e), "S"}
		s.AddEnvironmentKey(id, k.access, k.secret)
		info := envInfo{id: id, k: k}
		for r := 0; r < regs; r++ {
			reg := s.AddRegistry(id, fmt.Sprintf("%012d.dkr.ecr.eu-west-1.amazonaws.com", r), "")
			info.creds = append(info.creds, s.AddCredential(id, reg, "AWS", "old", ""))
		}
		all = append(all, info)
	}
	s.AddAccountKey("ADMIN", "S", true)
	var wg sync.WaitGroup
	errs := make(chan error, envs*2)
	for _, e := range all {
		wg.Add(1)
		go func(e envInfo) {
			defer wg.Done()
			c, err := client.NewRancherClient(&client.ClientOpts{Url: s.URL + "/v2-beta/projects/" + e.id + "/schemas",
				AccessKey: e.k.access, SecretKey: e.k.secret, Timeout: 5 * time.Second})
			if err != nil {
				errs <- err
				return
			}
			coll, err := c.RegistryCredential.List(&client.ListOpts{Filters: map[string]any{"limit": 7}})
			var got []client.RegistryCredential
			for err == nil && coll != nil {
				got = append(got, coll.Data...)
				coll, err = coll.Next()
			}
			if err != nil {
				errs <- err
				return
			}
			if len(got) != regs {
				errs <- fmt.Errorf("%s: %d credentials", e.id, len(got))
				return
			}
			var inner sync.WaitGroup
			for i := range got {
				inner.Add(1)
				go func(cr client.RegistryCredential) {
					defer inner.Done()
					if _, err := c.RegistryCredential.Update(&cr, map[string]any{"secretValue": "new-" + cr.Id}); err != nil {
						errs <- err
					}
				}(got[i])
			}
			inner.Wait()
		}(e)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			s.SetState(all[0].creds[0], "active")
			_ = s.Credentials("")
			req, _ := http.NewRequest("GET", s.URL+"/v2-beta/registrycredentials?limit=50", nil)
			req.SetBasicAuth("ADMIN", "S")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, cr := range s.Credentials("") {
		if cr.SecretValue != "new-"+cr.ID || cr.Writes != 1 {
			t.Fatalf("credential %+v", cr)
		}
	}
}

func TestListCost(t *testing.T) {
	s := New(Options{MaxRecords: -1})
	defer s.Close()
	var env string
	for e := 0; e < 50; e++ {
		env = s.AddEnvironment(fmt.Sprint("env", e))
		for r := 0; r < 40; r++ {
			s.AddCredential(env, s.AddRegistry(env, fmt.Sprint(r, ".example.com"), ""), "AWS", "x", "")
		}
	}
	s.AddEnvironmentKey(env, "K", "S")
	u, _ := url.Parse(s.URL + "/v2-beta/registrycredentials?limit=100")
	req := &http.Request{Method: "GET", URL: u, Host: u.Host, Header: http.Header{}}
	req.SetBasicAuth("K", "S")
	allocs := testing.AllocsPerRun(20, func() {
		rw := &discardWriter{h: http.Header{}}
		s.handle(rw, req)
		if rw.status != 200 {
			t.Fatalf("status %d", rw.status)
		}
	})
	if allocs > 80 {
		t.Fatalf("%.0f allocations per list", allocs)
	}
}

type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(s int)           { d.status = s }

// TestEveryAnswerIsJSON sweeps endpoints, keys and methods: every answer is valid JSON with Cattle's headers.
func TestEveryAnswerIsJSON(t *testing.T) {
	for _, esc := range []bool{false, true} {
		w := newWorld(t, Options{EscapeSlashes: esc})
		w.s.AddRegistry(w.env1, `we"ird\path/<&>`+"\x01\xff", "inactive")
		w.s.AddCredential(w.env1, w.reg1, "AWS", "s", "removed")
		paths := []string{"/", "/v1", "/v1/", "/v2-beta", "/v2-beta/schemas", "/v2-beta/schemas/registry",
			"/v2-beta/projects", "/v2-beta/projects/" + w.env1, "/v2-beta/projects/" + w.env2,
			"/v2-beta/projects/" + w.env1 + "/schemas", "/v2-beta/projects/" + w.env1 + "/registries",
			"/v2-beta/projects/" + w.env1 + "/registrycredentials?removed_notnull=true&state_like=%25e%25&limit=1",
			"/v2-beta/registries/" + w.reg1, "/v2-beta/registrycredentials/" + w.cred1, "/v2-beta/storagepools",
			"/v2-beta/credentials", "/v1/projects/" + w.env1 + "/registries", "/nothing"}
		for _, k := range []key{w.envKey1, w.user, w.admin, {"bad", "bad"}} {
			for _, p := range paths {
				for _, m := range []string{"GET", "PUT", "POST", "DELETE", "PATCH"} {
					resp, b := do(t, m, w.s.URL+p, k, `{"name":"n"}`, "X-API-No-Challenge", "true")
					if !json.Valid(b) || resp.Header.Get("Content-Type") != "application/json" ||
						!strings.HasSuffix(resp.Header.Get("X-API-Schemas"), "/schemas") {
						t.Fatalf("%s %s %s: %d %v %s", k.access, m, p, resp.StatusCode, resp.Header, b)
					}
					if resp.StatusCode >= 400 && decode(t, b)["type"] != "error" {
						t.Fatalf("%s %s %s: %d %s", k.access, m, p, resp.StatusCode, b)
					}
				}
			}
		}
	}
}
