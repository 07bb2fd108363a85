package updater

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

func TestPassAgentURLThreeRegions(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	east := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	west := w.registry(w.env, ecrHost(acct, "us-west-2"), "active")
	china := w.registry(w.env, acct+".dkr.ecr.cn-north-1.amazonaws.com.cn", "active")
	otherAcct := w.registry(w.env, ecrHost(other, "us-west-2"), "active")
	hub := w.registry(w.env, "index.docker.io", "active")

	res := w.pass(w.config())
	if !res.OK() {
		t.Fatalf("pass failed: %v\n%s", res.firstError(), w.log)
	}
	w.wantFresh(east, "us-east-1")
	w.wantFresh(west, "us-west-2")
	w.wantFresh(china, "cn-north-1")
	w.wantFresh(otherAcct, "us-west-2") // a token serves every account of its region
	w.wantUntouched(hub)
	if res.Seen != 5 || res.InScope != 4 || res.Updated != 4 || res.Created != 0 || res.Failures() != 0 {
		t.Errorf("counts: %+v", res)
	}
	if res.ECRCalls != 3 || w.ecr.Calls() != 3 {
		t.Errorf("ECR calls: result %d, stand-in %d, want 3 (one per region)", res.ECRCalls, w.ecr.Calls())
	}
	// The three passwords differ: each registry got its own region's token.
	if w.cred(east).SecretValue == w.cred(west).SecretValue {
		t.Error("us-east-1 and us-west-2 got the same password")
	}
	// Writes send a JSON map with exactly the two fields, never go-rancher's "links":null.
	for _, r := range w.rancher.Requests() {
		if r.Method == http.MethodPut && (strings.Contains(string(r.Body), "links") || !strings.Contains(string(r.Body), `"publicValue":"AWS"`)) {
			t.Errorf("PUT body: %s", r.Body)
		}
	}
	// One log line per write and a summary.
	if n := strings.Count(w.log.String(), `msg="credential updated"`); n != 4 {
		t.Errorf("%d write lines, want 4:\n%s", n, w.log)
	}
	if !strings.Contains(w.log.String(), `msg="pass done"`) || !strings.Contains(w.log.String(), "in_scope=4") {
		t.Errorf("no summary line:\n%s", w.log)
	}
}

func TestPassEnvironmentEndpointChangesOnlyThatEnvironment(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	second := w.rancher.AddEnvironment("Windows")
	inFirst := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	inSecond := w.registry(second, ecrHost(acct, "us-east-1"), "active")

	for _, key := range []struct{ name, access, secret string }{
		{"account key", acctKey, acctSecret},
		{"environment key", "", ""},
	} {
		t.Run(key.name, func(t *testing.T) {
			cfg := w.config()
			cfg.Rancher.Endpoint = endpoint(w.rancher.URL + "/v2-beta/projects/" + second)
			if key.access == "" {
				w.rancher.AddEnvironmentKey(second, "ENVKEY2", "env2-secret-value")
				cfg.Rancher.AccessKey, cfg.Rancher.SecretKey = "ENVKEY2", "env2-secret-value"
			} else {
				cfg.Rancher.AccessKey, cfg.Rancher.SecretKey = key.access, redact.Secret(key.secret)
			}
			res := w.pass(cfg)
			if !res.OK() || res.Updated != 1 {
				t.Fatalf("pass: ok %v updated %d: %v\n%s", res.OK(), res.Updated, res.firstError(), w.log)
			}
			w.wantFresh(inSecond, "us-east-1")
			w.wantUntouched(inFirst)
		})
	}
}

func TestPassAccountKeyWithoutEnvironmentIsExplained(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	c := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	cfg := w.config()
	cfg.Rancher.Endpoint, cfg.Rancher.AccessKey, cfg.Rancher.SecretKey = endpoint(w.rancher.URL), acctKey, acctSecret
	res := w.pass(cfg)
	if res.OK() || res.Failures() == 0 {
		t.Fatal("an account key through the unscoped schemas cannot write; the pass must fail")
	}
	if msg := res.firstError(); !strings.Contains(msg, "the environment selection") || !strings.Contains(msg, "not updatable") && !strings.Contains(msg, "read-only") {
		t.Errorf("error does not explain the fix: %s", msg)
	}
	w.wantUntouched(c)
}

func TestPassStatesAndAddressVariants(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	h := ecrHost(acct, "us-east-1")
	// Two active credentials: both updated. Inactive and removed ones: untouched.
	r1 := w.rancher.AddRegistry(w.env, h, "active")
	a1 := w.rancher.AddCredential(w.env, r1, "AWS", "old-password-a1", "active")
	a2 := w.rancher.AddCredential(w.env, r1, "AWS", "old-password-a2", "active")
	in1 := w.rancher.AddCredential(w.env, r1, "AWS", "old-password-in1", "inactive")
	rm1 := w.rancher.AddCredential(w.env, r1, "AWS", "old-password-rm1", "removed")
	// No credential at all: one is created.
	r2 := w.rancher.AddRegistry(w.env, ecrHost(other, "us-east-1"), "active")
	// Only an inactive credential: a new active one is created, the inactive one left alone.
	r3 := w.rancher.AddRegistry(w.env, ecrHost(acct, "eu-west-1"), "active")
	in3 := w.rancher.AddCredential(w.env, r3, "AWS", "old-password-in3", "inactive")
	// Inactive registry: skipped.
	r4 := w.rancher.AddRegistry(w.env, ecrHost(acct, "us-west-1"), "inactive")
	c4 := w.rancher.AddCredential(w.env, r4, "AWS", "old-password-c4", "active")
	// Variants a user may have typed.
	v1 := w.registry(w.env, "https://"+ecrHost(other, "eu-west-1")+"/", "active")
	v2 := w.registry(w.env, strings.ToUpper(ecrHost(acct, "ap-south-1")), "active")

	res := w.pass(w.config())
	if !res.OK() {
		t.Fatalf("pass: %v\n%s", res.firstError(), w.log)
	}
	w.wantFresh(a1, "us-east-1")
	w.wantFresh(a2, "us-east-1")
	w.wantUntouched(in1)
	w.wantUntouched(rm1)
	w.wantUntouched(in3)
	w.wantUntouched(c4)
	w.wantFresh(v1, "eu-west-1")
	w.wantFresh(v2, "ap-south-1")
	for _, reg := range []string{r2, r3} {
		var active []ranchertest.Credential
		for _, c := range w.rancher.Credentials(w.env) {
			if c.RegistryID == reg && c.State == "active" {
				active = append(active, c)
			}
		}
		if len(active) != 1 || active[0].PublicValue != "AWS" || active[0].SecretValue == "" {
			t.Errorf("registry %s: active credentials %+v, want one created", reg, active)
		}
	}
	if res.Updated != 4 || res.Created != 2 || res.Skipped != 1 {
		t.Errorf("counts: updated %d created %d skipped %d", res.Updated, res.Created, res.Skipped)
	}
	if !strings.Contains(w.log.String(), "Rancher matches images only to a bare host") {
		t.Errorf("no warning for the address with a scheme:\n%s", w.log)
	}
}

func TestPassPagination(t *testing.T) {
	w := newWorld(t, ranchertest.Options{MaxPageSize: 100}, ecrtest.Options{})
	var creds []string
	for i := 0; i < 260; i++ {
		region := []string{"us-east-1", "eu-west-1"}[i%2]
		creds = append(creds, w.registry(w.env, fmt.Sprintf("%012d.dkr.ecr.%s.amazonaws.com", 100000000000+i, region), "active"))
	}
	w.rancher.ResetRequests()
	res := w.pass(w.config())
	if !res.OK() || res.Updated != 260 || res.Seen != 260 {
		t.Fatalf("pass: ok %v seen %d updated %d: %v", res.OK(), res.Seen, res.Updated, res.firstError())
	}
	for i, c := range creds {
		w.wantFresh(c, []string{"us-east-1", "eu-west-1"}[i%2])
	}
	// 1 probe + 1 schemas + 3 pages of registries + 3 pages of credentials + 260 writes.
	if want := 1 + 1 + 3 + 3 + 260; w.rancher.RequestCount() != want || res.RancherRequests != int64(want) {
		t.Errorf("requests: stand-in %d, result %d, want %d", w.rancher.RequestCount(), res.RancherRequests, want)
	}
}

func TestPassUnparsableAddressDoesNotStopThePass(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	bad1 := w.registry(w.env, "12345.dkr.ecr.us-east-1.amazonaws.com", "active")
	bad2 := w.registry(w.env, ecrHost(acct, "us-east-1")+":5000", "active")
	bad3 := w.registry(w.env, "exa mple.com", "active")
	good := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	cfg := w.config()
	cfg.Rules.AutoCreate = true
	cfg.Rules.HomeRegion = "us-east-1"
	res := w.pass(cfg)
	if !res.OK() {
		t.Fatalf("pass: %v", res.firstError())
	}
	w.wantFresh(good, "us-east-1")
	for _, c := range []string{bad1, bad2, bad3} {
		w.wantUntouched(c)
	}
	if res.Skipped != 3 || strings.Count(w.log.String(), "registry skipped") != 3 {
		t.Errorf("skipped %d:\n%s", res.Skipped, w.log)
	}
	if len(w.rancher.Registries(w.env)) != 4 {
		t.Errorf("AUTO_CREATE made a duplicate: %+v", w.rancher.Registries(w.env))
	}
}

func TestPassAccountScoping(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	mine := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	theirs := w.registry(w.env, ecrHost(other, "eu-west-1"), "active")
	cfg := w.config()
	cfg.Rules.Accounts = []string{other}
	res := w.pass(cfg)
	if !res.OK() || res.InScope != 1 {
		t.Fatalf("pass: %+v %v", res, res.firstError())
	}
	w.wantUntouched(mine)
	w.wantFresh(theirs, "eu-west-1")
	if w.ecr.CallsIn("us-east-1") != 0 {
		t.Error("a token was fetched for a region with no registry in scope")
	}
}

func TestAutoCreateTwice(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	cfg := w.config()
	cfg.Rules.AutoCreate, cfg.Rules.HomeRegion = true, "us-east-1"
	u := w.updater(cfg)
	first := u.Pass(context.Background())
	if !first.OK() || first.RegistriesCreated != 1 || first.Created != 1 {
		t.Fatalf("first pass: %+v %v", first, first.firstError())
	}
	second := u.Pass(context.Background())
	if !second.OK() || second.RegistriesCreated != 0 || second.Updated != 1 {
		t.Fatalf("second pass: %+v %v", second, second.firstError())
	}
	regs := w.rancher.Registries(w.env)
	if len(regs) != 1 || regs[0].ServerAddress != ecrHost(acct, "us-east-1") {
		t.Fatalf("registries: %+v", regs)
	}
	creds := w.rancher.Credentials(w.env)
	if len(creds) != 1 || creds[0].SecretValue != w.latest("us-east-1") {
		t.Fatalf("credentials: %+v", creds)
	}
	// A registry Rancher says exists (400 ServerAddressUsed) that the list did not show: no failure, no duplicate.
	w2 := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w2.rancher.AddRegistry(w2.env, ecrHost(acct, "us-east-1"), "active")
	cfg2 := w2.config()
	cfg2.Rules.AutoCreate, cfg2.Rules.HomeRegion = true, "us-east-1"
	w2.rancher.OnRequest(func(r *http.Request) {
		// Hide the registry from the list only: the create must meet ServerAddressUsed.
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/registries") {
			r.URL.RawQuery += "&name=nothing-matches"
		}
	})
	res := w2.pass(cfg2)
	if !res.OK() || res.RegistriesCreated != 0 || len(w2.rancher.Registries(w2.env)) != 1 {
		t.Errorf("ServerAddressUsed: ok %v created %d registries %d: %v", res.OK(), res.RegistriesCreated, len(w2.rancher.Registries(w2.env)), res.firstError())
	}
	if !strings.Contains(w2.log.String(), "registry exists already") {
		t.Errorf("the create did not meet ServerAddressUsed:\n%s", w2.log)
	}
}

func TestMalformedTokenWritesNothing(t *testing.T) {
	for _, f := range []ecrtest.Fault{
		{Region: "eu-west-1", Token: "bm90LWJhc2U2NA=="},                     // "not-base64" decoded: no colon
		{Region: "eu-west-1", Token: "%%%"},                                  // not base64
		{Region: "eu-west-1", Token: "QVdTOg=="},                             // "AWS:" empty password
		{Region: "eu-west-1", Token: "cm9vdDpodW50ZXIy"},                     // "root:hunter2" wrong user
		{Region: "eu-west-1", OmitExpiresAt: true},                           // no expiry
		{Region: "eu-west-1", Empty: true},                                   // no authorization data
		{Region: "eu-west-1", Code: "AccessDeniedException"},                 // refused
		{Region: "eu-west-1", Code: "ServerException"},                       // ECR down
		{Region: "eu-west-1", Status: http.StatusBadGateway, Code: "Bad"},    // not AWS JSON
		{Region: "eu-west-1", Drop: true},                                    // connection dropped
		{Region: "eu-west-1", Code: "UnrecognizedClientException", Times: 1}, // bad key
	} {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
			good := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
			hit := w.registry(w.env, ecrHost(acct, "eu-west-1"), "active")
			w.ecr.AddFault(f)
			res := w.pass(w.config())
			if res.OK() || res.Failures() != 1 {
				t.Fatalf("pass ok %v failed %d, want one failure", res.OK(), res.Failures())
			}
			w.wantFresh(good, "us-east-1")
			w.wantUntouched(hit)
			if _, ok := res.TokenErrors["eu-west-1"]; !ok {
				t.Errorf("no token error for eu-west-1: %+v", res.TokenErrors)
			}
			if strings.Contains(w.log.String(), "hunter2") {
				t.Errorf("the token's content was logged:\n%s", w.log)
			}
		})
	}
}

func TestRancherErrors(t *testing.T) {
	t.Run("401 writes nothing and says which key", func(t *testing.T) {
		w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
		c := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
		cfg := w.config()
		cfg.Rancher.SecretKey = "wrong-secret-value"
		res := w.pass(cfg)
		if res.Err == nil || !strings.Contains(res.Err.Error(), "401") || !strings.Contains(res.Err.Error(), "the Rancher secret key") {
			t.Fatalf("err %v", res.Err)
		}
		w.wantUntouched(c)
		if w.ecr.Calls() != 0 {
			t.Error("ECR was asked although Rancher could not be read")
		}
	})
	// Cattle writes a credential removed since the list and answers 200 in state removed (its getById ignores
	// removed): the write is reported gone, not updated, since that credential serves no pull.
	t.Run("removed meanwhile is skipped, not fatal", func(t *testing.T) {
		w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
		gone := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
		kept := w.registry(w.env, ecrHost(acct, "eu-west-1"), "active")
		w.rancher.OnRequest(func(r *http.Request) {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/"+gone) {
				w.rancher.SetState(gone, "removed")
			}
		})
		res := w.pass(w.config())
		if !res.OK() || res.Skipped != 1 || res.Updated != 1 {
			t.Fatalf("ok %v skipped %d updated %d: %v", res.OK(), res.Skipped, res.Updated, res.firstError())
		}
		w.wantFresh(kept, "eu-west-1")
		if !strings.Contains(w.log.String(), "removed before it could be written") {
			t.Errorf("log:\n%s", w.log)
		}
	})
	for _, status := range []int{http.StatusUnprocessableEntity, http.StatusInternalServerError, http.StatusServiceUnavailable} {
		t.Run(fmt.Sprintf("%d on one write: the others land", status), func(t *testing.T) {
			w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
			bad := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
			goods := []string{w.registry(w.env, ecrHost(acct, "eu-west-1"), "active"), w.registry(w.env, ecrHost(other, "eu-west-1"), "active")}
			w.rancher.AddFault(ranchertest.Fault{Method: http.MethodPut, PathContains: "/" + bad, Status: status})
			res := w.pass(w.config())
			if res.OK() || res.Failures() != 1 || res.Updated != 2 {
				t.Fatalf("ok %v failed %d updated %d", res.OK(), res.Failures(), res.Updated)
			}
			for _, g := range goods {
				w.wantFresh(g, "eu-west-1")
			}
			w.wantUntouched(bad)
			if !strings.Contains(w.log.String(), fmt.Sprint(status)) {
				t.Errorf("the status is not in the log:\n%s", w.log)
			}
		})
	}
	t.Run("500 on the list: nothing written, pass fails", func(t *testing.T) {
		w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
		c := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
		w.rancher.AddFault(ranchertest.Fault{Method: http.MethodGet, PathContains: "registrycredentials", Status: 500})
		res := w.pass(w.config())
		if res.OK() || w.writes() != 0 {
			t.Fatalf("ok %v writes %d", res.OK(), w.writes())
		}
		w.wantUntouched(c)
	})
	t.Run("garbage list answer", func(t *testing.T) {
		w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
		c := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
		w.rancher.AddFault(ranchertest.Fault{Method: http.MethodGet, PathContains: "/registries", Garbage: true})
		res := w.pass(w.config())
		if res.OK() || w.writes() != 0 {
			t.Fatalf("ok %v writes %d", res.OK(), w.writes())
		}
		w.wantUntouched(c)
	})
	t.Run("hung server costs one timeout", func(t *testing.T) {
		w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
		w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
		w.rancher.AddFault(ranchertest.Fault{Hang: true})
		cfg := w.config()
		cfg.Rancher.Timeout = 300 * time.Millisecond
		start := time.Now()
		res := w.pass(cfg)
		if res.OK() || time.Since(start) > 3*time.Second {
			t.Fatalf("ok %v after %s", res.OK(), time.Since(start))
		}
	})
}

func TestDryRunWritesNothing(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	c := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	w.rancher.AddRegistry(w.env, ecrHost(acct, "eu-west-1"), "active")
	cfg := w.config()
	cfg.DryRun = true
	cfg.Rules.AutoCreate, cfg.Rules.HomeRegion = true, "ap-south-1"
	res := w.pass(cfg)
	if !res.OK() || w.writes() != 0 {
		t.Fatalf("ok %v writes %d", res.OK(), w.writes())
	}
	w.wantUntouched(c)
	for _, want := range []string{"dry run: would update", "dry run: would create credential", "dry run: would create registry"} {
		if !strings.Contains(w.log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, w.log)
		}
	}
}

func TestNoECRRegistryIsExplained(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	hub := w.registry(w.env, "index.docker.io", "active")
	res := w.pass(w.config())
	if !res.OK() || res.InScope != 0 || w.ecr.Calls() != 0 {
		t.Fatalf("ok %v in scope %d ECR calls %d", res.OK(), res.InScope, w.ecr.Calls())
	}
	w.wantUntouched(hub)
	if !strings.Contains(w.log.String(), "no ECR registry found in this environment") {
		t.Errorf("log:\n%s", w.log)
	}
}

// TestPassResultIsNotKept: between passes the updater keeps what names the environments of the last scheduled
// pass, not its plans and writes (the whole Result stayed reachable through them: 1 MB of heap in the 50 x 40
// world of make bench).
func TestPassResultIsNotKept(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	u := w.updater(w.config())
	res := u.Pass(context.Background())
	if !res.OK() || len(res.Envs) != 1 || len(res.Envs[0].Writes) != 1 {
		t.Fatalf("pass: %v, %d environments", res.firstError(), len(res.Envs))
	}
	if len(u.lastTargets) != 1 {
		t.Fatalf("%d environments remembered, want 1", len(u.lastTargets))
	}
	kept := u.lastTargets[0]
	if kept == res.Envs[0] || kept.Writes != nil || kept.Plan.Actions != nil || kept.ID != res.Envs[0].ID || kept.key != res.Envs[0].key {
		t.Errorf("kept %+v of the pass's environment", kept)
	}
}
