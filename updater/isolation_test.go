package updater

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/internal/promtext"
	"github.com/ecr-updater/ecr-updater/internal/promtext/promtexttest"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// healthz reads /healthz of a running loop.
func healthz(t *testing.T, h *Health) (int, HealthStatus) {
	t.Helper()
	srv := httptest.NewServer(Handler(h, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s HealthStatus
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, s
}

// credentialWrites counts the writes of one credential the Rancher stand-in has seen.
func (w *world) credentialWrites(id string) int { return w.cred(id).Writes }

// TestDeniedRegionIsIsolated: a registry in a region the IAM policy denies does not fail the updater. /healthz
// stays 200 (degraded) and lists it, the metric names it, and the retries ask only for that region's token and
// write nothing else: the healthy credential is written once, by the scheduled pass.
func TestDeniedRegionIsIsolated(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	good := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	denied := w.registry(w.env, ecrHost(acct, "ap-east-1"), "active")
	deniedReg := w.cred(denied).RegistryID
	w.ecr.AddFault(ecrtest.Fault{Region: "ap-east-1", Code: "AccessDeniedException"})
	cfg := w.config()
	reg := promtext.NewRegistry()
	cfg.Metrics = NewMetrics(reg, "test", "test")
	l := w.startLoop(t, cfg)
	metrics := Handler(l.u.Health(), reg)

	wake := l.next(t)
	res := l.last()
	if res.Status != StatusDegraded || res.OK() {
		t.Fatalf("first pass: status %q, ok %v; want degraded", res.Status, res.OK())
	}
	w.wantFresh(good, "us-east-1")
	w.wantUntouched(denied)
	code, hs := healthz(t, l.u.Health())
	if code != 200 || hs.Status != StatusDegraded || hs.ProblemsTotal != 1 || hs.Problems[0].Registry != deniedReg ||
		hs.Problems[0].Reason != ReasonToken || !strings.Contains(hs.Problems[0].Error, "AccessDenied") {
		t.Fatalf("/healthz %d %+v", code, hs)
	}
	if got := gaugeValue(t, metrics, "ecr_updater_registry_failing", map[string]string{"env": w.env, "registry": deniedReg, "reason": ReasonToken}); got != 1 {
		t.Errorf("ecr_updater_registry_failing for %s: %v", deniedReg, got)
	}

	// Ten retries (about a quarter of an hour): only the denied region's token, no write at all.
	w.ecr.ResetCalls()
	retries := 0
	for retries < 10 {
		l.clock.advanceTo(wake)
		wake = l.next(t)
		res := l.last()
		if res.Kind != PassRetry {
			t.Fatalf("pass %d is %s, want a retry", l.count(), res.Kind)
		}
		retries++
		if res.Status != StatusDegraded {
			t.Fatalf("retry %d: status %s", retries, res.Status)
		}
	}
	if n, east := w.ecr.CallsIn("ap-east-1"), w.ecr.CallsIn("us-east-1"); n != retries || east != 0 {
		t.Errorf("%d retries asked ap-east-1 %d times and us-east-1 %d times; want %d and 0", retries, n, east, retries)
	}
	if n := w.credentialWrites(good); n != 1 {
		t.Errorf("the healthy credential was written %d times during the retries, want once", n)
	}
	if code, _ := healthz(t, l.u.Health()); code != 200 {
		t.Errorf("/healthz %d after %d retries", code, retries)
	}

	// The region is allowed again: the next retry writes it, and only it.
	w.ecr.ClearFaults()
	l.clock.advanceTo(wake)
	l.next(t)
	res = l.last()
	if res.Status != StatusOK || len(res.Problems) != 0 || res.Updated != 1 {
		t.Fatalf("after the fix: status %s, problems %v, updated %d", res.Status, res.Problems, res.Updated)
	}
	w.wantFresh(denied, "ap-east-1")
	if n := w.credentialWrites(good); n != 1 {
		t.Errorf("the healthy credential was written %d times", n)
	}
	if code, hs := healthz(t, l.u.Health()); code != 200 || hs.Status != StatusOK || hs.ProblemsTotal != 0 {
		t.Errorf("/healthz after the fix: %d %+v", code, hs)
	}
	if got := gaugeValue(t, metrics, "ecr_updater_registry_failing", map[string]string{"env": w.env, "registry": deniedReg, "reason": ReasonToken}); got != 0 {
		t.Errorf("ecr_updater_registry_failing still %v after the fix", got)
	}
}

// TestFailingWriteIsIsolated: one credential whose write keeps failing is retried alone; the others are written
// on their schedule only, and /healthz stays 200.
func TestFailingWriteIsIsolated(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	var creds []string
	for i := 0; i < 4; i++ {
		creds = append(creds, w.registry(w.env, ecrHost([]string{acct, other, "111111111111", "222222222222"}[i], "us-east-1"), "active"))
	}
	bad := creds[2]
	w.rancher.AddFault(ranchertest.Fault{Method: "PUT", PathContains: "/" + bad, Status: 500})
	l := w.startLoop(t, w.config())

	wake := l.next(t)
	if res := l.last(); res.Status != StatusDegraded || len(res.Problems) != 1 || res.Problems[0].Reason != ReasonWrite {
		t.Fatalf("first pass: %s %+v", res.Status, res.Problems)
	}
	for i := 0; i < 4; i++ {
		l.clock.advanceTo(wake)
		wake = l.next(t)
		res := l.last()
		if res.Kind != PassRetry || res.ECRCalls != 0 || res.Status != StatusDegraded {
			t.Fatalf("retry %d: kind %s, %d ECR calls, status %s", i+1, res.Kind, res.ECRCalls, res.Status)
		}
	}
	for _, c := range creds {
		if n := w.credentialWrites(c); c != bad && n != 1 {
			t.Errorf("credential %s written %d times, want once", c, n)
		}
	}
	// The scheduled pass and four retries, all answered 500.
	if n := w.putsTo(bad); n != 5 {
		t.Errorf("the failing credential was tried %d times, want 5", n)
	}
	if code, _ := healthz(t, l.u.Health()); code != 200 {
		t.Errorf("/healthz %d", code)
	}
}

// putsTo counts the PUT requests to one credential.
func (w *world) putsTo(id string) int {
	n := 0
	for _, r := range w.rancher.Requests() {
		if r.Method == "PUT" && strings.HasSuffix(strings.TrimSuffix(r.Path, "/"), "/"+id) {
			n++
		}
	}
	return n
}

// TestEveryRegistryFailingIsUnhealthy: when nothing in scope can be refreshed, /healthz says so (503).
func TestEveryRegistryFailingIsUnhealthy(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	w.registry(w.env, ecrHost(acct, "eu-west-1"), "active")
	w.ecr.AddFault(ecrtest.Fault{Code: "AccessDeniedException"})
	l := w.startLoop(t, w.config())
	l.next(t)
	if res := l.last(); res.Status != StatusFailing || len(res.Problems) != 2 {
		t.Fatalf("status %s, problems %+v", res.Status, res.Problems)
	}
	if code, hs := healthz(t, l.u.Health()); code != 503 || hs.Status != StatusFailing {
		t.Errorf("/healthz %d %+v", code, hs)
	}
}

// TestPassesStartAtLeastFiveSecondsApart: 50 ms tokens cannot make the updater spin; it warns about them.
func TestPassesStartAtLeastFiveSecondsApart(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{TokenTTL: 50 * time.Millisecond})
	w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	l := w.startLoop(t, w.config())
	var starts []time.Time
	for i := 0; i < 6; i++ {
		wake := l.next(t)
		starts = append(starts, l.last().Start)
		l.clock.advanceTo(wake)
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < MinSpacing {
			t.Errorf("passes %d and %d started %s apart", i, i+1, gap)
		}
	}
	if n := strings.Count(w.log.String(), "ECR token lives less than 10m0s"); n != 1 {
		t.Errorf("%d warnings about 50 ms tokens in %d passes, want one", n, len(starts))
	}
}

// gaugeValue scrapes /metrics, has Prometheus's parser and linter judge it, and returns the value of the gauge of
// name whose labels include labels, 0 when there is none.
func gaugeValue(t *testing.T, h http.Handler, name string, labels map[string]string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	fams := promtexttest.Parse(t, rec.Body.Bytes())
next:
	for _, m := range fams[name].GetMetric() {
		for k, v := range labels {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
				continue next
			}
		}
		return m.GetGauge().GetValue()
	}
	return 0
}

// TestCredentialSourceLoggedOnce: after the first token, the updater says once where its AWS credentials came from.
func TestCredentialSourceLoggedOnce(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	u := w.updater(w.config())
	u.Pass(t.Context())
	u.Pass(t.Context())
	if n := strings.Count(w.log.String(), `msg="AWS credentials found" source="static credentials"`); n != 1 {
		t.Errorf("credential source logged %d times:\n%s", n, w.log.String())
	}
}

// TestSlowPagesCannotHoldAPass: a Rancher that answers every page inside RANCHER_TIMEOUT, slowly, cannot hold a pass
// for longer than the read stage's deadline (10 RANCHER_TIMEOUTs); the environment is a failed read, with a clear
// error, and nothing is written.
func TestSlowPagesCannotHoldAPass(t *testing.T) {
	w := newWorld(t, ranchertest.Options{MaxPageSize: 1}, ecrtest.Options{})
	for i := 0; i < 200; i++ {
		w.registry(w.env, fmt.Sprintf("%012d.dkr.ecr.us-east-1.amazonaws.com", 100000000000+i), "active")
	}
	cfg := w.config()
	// Each page answers well within the request timeout: a loaded machine can stall a request by a few hundred
	// milliseconds, and a page over the timeout fails the read by itself, not by the stage's deadline (with 80 ms
	// pages and a 100 ms timeout, it did). The 200 registries' pages (listed beside the credentials' pages) take
	// 8 s: more than twice the read stage.
	cfg.Rancher.Timeout = 300 * time.Millisecond
	limit := readStageTimeouts * cfg.Rancher.Timeout
	w.rancher.AddFault(ranchertest.Fault{Method: "GET", PathContains: "/registr", Delay: 40 * time.Millisecond})
	start := time.Now()
	res := w.pass(cfg)
	took := time.Since(start)
	if took > 2*limit {
		t.Errorf("the pass took %s; the read stage ends at %s", took, limit)
	}
	if res.OK() || len(res.Envs) != 1 || res.Envs[0].Err == nil || !strings.Contains(res.Envs[0].Err.Error(), "took longer than "+limit.String()) {
		var err error
		if len(res.Envs) > 0 {
			err = res.Envs[0].Err
		}
		t.Fatalf("pass: ok %v, %d environments, the first one's error: %v", res.OK(), len(res.Envs), err)
	}
	if n := w.writes(); n != 0 {
		t.Errorf("%d writes", n)
	}
	t.Logf("pass ended after %s: %v", took.Round(time.Millisecond), res.Envs[0].Err)
}

// TestFailingRegionIsFetchedByRetriesOnly (issue 19, point 8): passes for changes plan against the last failure of
// a region's token rather than fetch it again (the retries do, as the schedule says), and a problem is listed once,
// however many passes find it. Before, every small pass fetched the failing region's token again and added its
// problem once more (problems 2, 3, 4, 5...).
func TestFailingRegionIsFetchedByRetriesOnly(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	good := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	w.rancher.AddRegistry(w.env, ecrHost(acct, "ap-east-1"), "active") // no credential yet: one is to be created
	w.ecr.AddFault(ecrtest.Fault{Region: "ap-east-1", Code: "AccessDeniedException"})
	l := w.startLoop(t, w.config())
	retry := l.next(t)
	if res := l.last(); len(res.Problems) != 1 {
		t.Fatalf("scheduled pass: problems %+v", res.Problems)
	}
	w.ecr.ResetCalls()
	l.echo(t, w, good)
	for i := 0; i < 4; i++ {
		if !l.u.Changed("", Change{RegistryID: w.cred(good).RegistryID, CredentialID: good}) {
			t.Fatal("the hand edit was ignored")
		}
		l.step(t)
		res := l.waitPasses(t, 2+i)
		if res.Kind != PassEvent || res.Updated != 1 || res.ECRCalls != 0 || len(res.Problems) != 1 {
			t.Fatalf("pass %d for a change: kind %s, updated %d, ECR calls %d, problems %d", i+1, res.Kind, res.Updated, res.ECRCalls, len(res.Problems))
		}
		l.echo(t, w, good)
	}
	if at := l.next(t); !at.Equal(retry) {
		t.Errorf("retry due at %s, want %s as the scheduled pass left it", at, retry)
	}
	l.clock.advanceTo(retry)
	if res := l.waitPasses(t, 6); res.Kind != PassRetry || res.ECRCalls != 1 || len(res.Problems) != 1 {
		t.Errorf("retry: kind %s, ECR calls %d, problems %d", res.Kind, res.ECRCalls, len(res.Problems))
	}
	if n := w.ecr.CallsIn("ap-east-1"); n != 1 {
		t.Errorf("ap-east-1 asked %d times by four passes for changes and one retry, want once", n)
	}
}

// TestHealthzShowsErrorKindsOnly (issue 19, point 8): /healthz, which anyone who reaches the port reads, says what
// kind of error stands in the way (the AWS error code, Rancher's status) and what it stops, never the error's own
// words: AWS's AccessDenied names the IAM principal. The log keeps every word.
func TestHealthzShowsErrorKindsOnly(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	w.registry(w.env, ecrHost(acct, "ap-east-1"), "active")
	bad := w.registry(w.env, ecrHost(other, "us-east-1"), "active")
	w.ecr.AddFault(ecrtest.Fault{Region: "ap-east-1", Code: "AccessDeniedException"})
	w.rancher.AddFault(ranchertest.Fault{Method: http.MethodPut, PathContains: "/" + bad, Status: 503})
	l := w.startLoop(t, w.config())
	l.next(t)
	srv := httptest.NewServer(Handler(l.u.Health(), nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var hs HealthStatus
	if err := json.Unmarshal(body, &hs); err != nil {
		t.Fatal(err)
	}
	errs := map[string]string{}
	for _, p := range hs.Problems {
		errs[p.Reason] = p.Error
	}
	if errs[ReasonToken] != "AccessDeniedException: no valid ECR token for region ap-east-1" ||
		errs[ReasonWrite] != "Rancher answered 503: credential not written" ||
		hs.LastError != "2 failures; first: AccessDeniedException: no ECR token for region ap-east-1" {
		t.Errorf("/healthz problems %q, last error %q", errs, hs.LastError)
	}
	for _, words := range []string{"arn:", "ecrtest", "not authorized", "Service Unavailable"} {
		if strings.Contains(string(body), words) {
			t.Errorf("/healthz repeats %q: %s", words, body)
		}
	}
	if log := w.log.String(); !strings.Contains(log, "arn:aws:iam::"+acct+":user/ecrtest is not authorized") || !strings.Contains(log, "503") {
		t.Errorf("the log lacks the errors' words:\n%s", log)
	}
}
