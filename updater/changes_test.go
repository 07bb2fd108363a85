package updater

import (
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// waitPasses waits until the loop has run n passes.
func (l *loop) waitPasses(t *testing.T, n int) *Result {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		if len(l.passes) >= n {
			r := l.passes[n-1]
			l.mu.Unlock()
			return r
		}
		l.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("pass %d never came", n)
	return nil
}

// TestChangesTriggerSmallPasses: a registry added in Rancher gets a fresh password from a small pass of its own
// (one read, the token of the last pass, only its write); the echo of that write is ignored; a credential edited
// by hand is rewritten although it was written this cycle; the schedule is not moved.
func TestChangesTriggerSmallPasses(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	a := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	l := w.startLoop(t, w.config())
	due := l.clock.next(t) // the scheduled pass is done; the next is due at `due`
	w.ecr.ResetCalls()

	regB := w.rancher.AddRegistry(w.env, ecrHost(other, "us-east-1"), "active")
	b := w.rancher.AddCredential(w.env, regB, "AWS", "placeholder", "active")
	w.rancher.ResetRequests()
	if !l.u.Changed("", Change{RegistryID: regB}) {
		t.Fatal("the change was ignored")
	}
	l.clock.advanceTo(l.clock.next(t)) // the debounce
	res := l.waitPasses(t, 2)
	if res.Kind != PassEvent || res.Updated != 1 || res.ECRCalls != 0 {
		t.Fatalf("small pass: kind %s, updated %d, ECR calls %d", res.Kind, res.Updated, res.ECRCalls)
	}
	w.wantFresh(b, "us-east-1")
	if n := w.credentialWrites(a); n != 1 {
		t.Errorf("the other credential was written %d times", n)
	}
	// One registries list, one credentials list, one write.
	if n := w.rancher.RequestCount(); n != 3 {
		t.Errorf("%d Rancher requests for one change, want 3", n)
	}

	// The echo of the updater's own write is not a change.
	if l.u.Changed("", Change{RegistryID: regB, CredentialID: b}) {
		t.Error("the echo of the updater's own write was taken for a change")
	}

	// A credential edited by hand (after the echo window) is rewritten, although it is fresh this cycle.
	l.clock.advanceTo(l.clock.Now().Add(echoWindow))
	if !l.u.Changed("", Change{RegistryID: w.cred(a).RegistryID, CredentialID: a}) {
		t.Fatal("the hand edit was ignored")
	}
	l.clock.advanceTo(l.clock.next(t))
	res = l.waitPasses(t, 3)
	if res.Kind != PassEvent || res.Updated != 1 {
		t.Fatalf("small pass: kind %s, updated %d", res.Kind, res.Updated)
	}
	if n := w.putsTo(a); n != 1 {
		t.Errorf("the edited credential was written %d times by small passes, want 1", n)
	}
	if n := w.putsTo(b); n != 1 {
		t.Errorf("the new credential was written %d times in all, want 1", n)
	}

	// The scheduled pass comes when it was due.
	l.clock.advanceTo(due)
	if res := l.waitPasses(t, 4); res.Kind != PassScheduled {
		t.Errorf("pass 4 is %s", res.Kind)
	}
}

// TestResyncWritesWhatIsNotFresh: after the stream reconnects, a small pass reads the whole environment and
// writes what is not fresh (a registry added while disconnected), and nothing else.
func TestResyncWritesWhatIsNotFresh(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	a := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	l := w.startLoop(t, w.config())
	l.clock.next(t)
	w.rancher.AddRegistry(w.env, ecrHost(other, "eu-west-1"), "active")
	l.u.Changed("", Change{Resync: true})
	l.clock.advanceTo(l.clock.next(t))
	res := l.waitPasses(t, 2)
	if res.Kind != PassEvent || res.Created != 1 || res.Updated != 0 || res.ECRCalls != 1 {
		t.Fatalf("resync: kind %s, created %d, updated %d, ECR calls %d", res.Kind, res.Created, res.Updated, res.ECRCalls)
	}
	if n := w.credentialWrites(a); n != 1 {
		t.Errorf("the fresh credential was written %d times", n)
	}
	if creds := w.rancher.Credentials(w.env); len(creds) != 2 {
		t.Errorf("%d credentials, want 2", len(creds))
	}
}

// TestFailedSmallPassIsRetried (issue 19, point 1): a small pass that cannot read the environment (one 503 on the
// registries list) or cannot write the changed credential is retried with the schedule's backoff, like a failed
// scheduled pass: the changed registry is fresh seconds later, /healthz is healthy again, and the scheduled pass
// still comes when it was due. Before the fix the loop slept until the scheduled pass, 6 h later, with /healthz
// failing.
func TestFailedSmallPassIsRetried(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault ranchertest.Fault
		puts  int // PUTs of the credential in all: the scheduled pass's, the failed one's, the retry's
	}{
		{"read", ranchertest.Fault{Method: "GET", PathContains: "/registries", Status: 503, Times: 1}, 2},
		{"write", ranchertest.Fault{Method: "PUT", PathContains: "/registrycredentials/", Status: 503, Times: 1}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
			a := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
			cfg := w.config()
			cfg.Interval = 6 * time.Hour
			l := w.startLoop(t, cfg)
			due := l.clock.next(t)

			// Rancher reports a credential edited by hand (after the echo window of the scheduled pass's own
			// write); the small pass for it fails.
			l.clock.advanceTo(l.clock.Now().Add(echoWindow))
			w.rancher.AddFault(tc.fault)
			if !l.u.Changed("", Change{RegistryID: w.cred(a).RegistryID, CredentialID: a}) {
				t.Fatal("the hand edit was ignored")
			}
			l.clock.advanceTo(l.clock.next(t)) // the debounce
			if res := l.waitPasses(t, 2); res.Kind != PassEvent || res.OK() {
				t.Fatalf("small pass: kind %s, ok %v; want a failed event pass", res.Kind, res.OK())
			}
			if ok, s := l.u.Health().Status(); tc.name == "read" && (ok || s.Status != StatusFailing) {
				t.Errorf("after the failed read: healthy %v, status %s", ok, s.Status)
			}

			// The retry is due within the backoff (and the 5 s floor), not at the scheduled pass.
			retry := l.clock.next(t)
			if wait := retry.Sub(l.clock.Now()); wait > MinSpacing+time.Second || !retry.Before(due) {
				t.Fatalf("retry due in %s (the scheduled pass in %s)", wait, due.Sub(l.clock.Now()))
			}
			l.clock.advanceTo(retry)
			res := l.waitPasses(t, 3)
			if res.Kind != PassRetry || !res.OK() || res.Updated != 1 || res.ECRCalls != 0 {
				t.Fatalf("retry: kind %s, ok %v, updated %d, ECR calls %d", res.Kind, res.OK(), res.Updated, res.ECRCalls)
			}
			w.wantFresh(a, "us-east-1")
			if n := w.putsTo(a); n != tc.puts {
				t.Errorf("the edited credential was written %d times in all, want %d", n, tc.puts)
			}
			if ok, s := l.u.Health().Status(); !ok || s.Status != StatusOK {
				t.Errorf("after the retry: healthy %v, status %s", ok, s.Status)
			}

			// Then the loop waits for the scheduled pass, due when it was.
			if next := l.clock.next(t); !next.Equal(due) {
				t.Errorf("next pass at %s, want the scheduled pass at %s", next, due)
			}
		})
	}
}
