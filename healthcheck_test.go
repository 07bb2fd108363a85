package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/internal/standin"
)

// TestHealthcheckAsksLivez: with a Rancher key that Rancher refuses, the daemon keeps running and says so on
// /healthz (503, failing), while /livez stays 200: `healthcheck` (the image's HEALTHCHECK) exits 0, so nothing
// that restarts an unhealthy container restarts it for a key, and `healthcheck --status` exits 1 naming the
// problem.
func TestHealthcheckAsksLivez(t *testing.T) {
	// No registry needed: every pass ends at Rancher's 401.
	env, port := newE2E(t).env0(), freePort(t)
	env["CATTLE_SECRET_KEY"], env["LISTEN_PORT"] = "not-the-secret", fmt.Sprint(port)
	cmd := command(t, env, "run")
	var out standin.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, body := fetch(base + "/healthz"); strings.Contains(body, `"status":"failing"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never said failing:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := fetch(base + "/healthz"); code != 503 || !strings.Contains(body, "401") {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := fetch(base + "/livez"); code != 200 || !strings.Contains(body, `"status":"alive"`) {
		t.Errorf("/livez: %d %s", code, body)
	}
	probe := map[string]string{"LISTEN_PORT": fmt.Sprint(port)}
	if code, hc := daemon(t, probe, "healthcheck"); code != 0 || hc != "" {
		t.Errorf("healthcheck: exit %d %q, want 0 and nothing printed", code, hc)
	}
	if code, hc := daemon(t, probe, "healthcheck", "--status"); code != 1 || !strings.Contains(hc, `status "failing"`) || !strings.Contains(hc, "401") {
		t.Errorf("healthcheck --status: exit %d %q, want 1 naming the failing state and the 401", code, hc)
	}
	if strings.Contains(out.String(), "not-the-secret") {
		t.Error("the daemon printed the Rancher secret key")
	}
}
