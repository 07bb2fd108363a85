package updater

import (
	"fmt"
	"net/http"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/rancher"
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

// echo delivers Rancher's report of the updater's own write of a credential, which must not count as a change.
func (l *loop) echo(t *testing.T, w *world, cred string) {
	t.Helper()
	if l.u.Changed("", Change{RegistryID: w.cred(cred).RegistryID, CredentialID: cred}) {
		t.Errorf("the echo of the updater's own write of %s was taken for a change", cred)
	}
}

// TestChangesTriggerSmallPasses: a registry added in Rancher gets a fresh password from a pass of its environment
// (one read, the current token, only its write); the echo of that write is ignored; a credential edited by hand is
// rewritten although the updater wrote it this cycle; the schedule is not moved.
func TestChangesTriggerSmallPasses(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	a := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	l := w.startLoop(t, w.config())
	due := l.next(t) // the scheduled pass is done; the next is due at `due`
	w.ecr.ResetCalls()
	l.echo(t, w, a)

	regB := w.rancher.AddRegistry(w.env, ecrHost(other, "us-east-1"), "active")
	b := w.rancher.AddCredential(w.env, regB, "AWS", "placeholder", "active")
	w.rancher.ResetRequests()
	if !l.u.Changed("", Change{RegistryID: regB}) {
		t.Fatal("the change was ignored")
	}
	l.step(t) // the debounce
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
	l.echo(t, w, b)

	// A credential edited by hand is rewritten, although it holds the current token as far as the updater knew.
	if !l.u.Changed("", Change{RegistryID: w.cred(a).RegistryID, CredentialID: a}) {
		t.Fatal("the hand edit was ignored")
	}
	l.step(t)
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
	if next := l.next(t); !next.Equal(due) {
		t.Errorf("next pass at %s, want the scheduled pass at %s", next, due)
	}
	l.clock.advanceTo(due)
	if res := l.waitPasses(t, 4); res.Kind != PassScheduled {
		t.Errorf("pass 4 is %s", res.Kind)
	}
}

// TestResyncWritesWhatIsNotFresh: after the stream reconnects, a pass reads the whole environment and writes what
// does not hold the current token (a registry added while disconnected), and nothing else.
func TestResyncWritesWhatIsNotFresh(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	a := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	l := w.startLoop(t, w.config())
	l.next(t)
	w.rancher.AddRegistry(w.env, ecrHost(other, "eu-west-1"), "active")
	l.u.Changed("", Change{Resync: true})
	l.step(t)
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

// TestFailedSmallPassIsRetried (issue 19, point 1): a pass for a change that cannot read the environment (one 503
// on the registries list) or cannot write the changed credential is retried with the schedule's backoff, like a
// failed scheduled pass: the changed registry is fresh seconds later, /healthz is healthy again, and the scheduled
// pass still comes when it was due. Before the fix the loop slept until the scheduled pass, 6 h later, with
// /healthz failing.
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
			due := l.next(t)

			// Rancher reports the scheduled pass's write, then a credential edited by hand; the pass for it fails.
			l.echo(t, w, a)
			w.rancher.AddFault(tc.fault)
			if !l.u.Changed("", Change{RegistryID: w.cred(a).RegistryID, CredentialID: a}) {
				t.Fatal("the hand edit was ignored")
			}
			l.step(t) // the debounce
			if res := l.waitPasses(t, 2); res.Kind != PassEvent || res.OK() {
				t.Fatalf("small pass: kind %s, ok %v; want a failed event pass", res.Kind, res.OK())
			}
			if ok, s := l.u.Health().Status(); tc.name == "read" && (ok || s.Status != StatusFailing) {
				t.Errorf("after the failed read: healthy %v, status %s", ok, s.Status)
			}

			// The retry is due within the backoff (and the 5 s floor), not at the scheduled pass.
			retry := l.next(t)
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
			if next := l.next(t); !next.Equal(due) {
				t.Errorf("next pass at %s, want the scheduled pass at %s", next, due)
			}
		})
	}
}

// TestOwnWritesNeverComeBackAsChanges (issue 19, point 2): the echo of each write is expected before the write is
// sent, so that Rancher's report of a write, however soon it comes (here: while the write itself is being
// answered), is never a change. Before, the echoes of an environment were noted once all its writes were done: of
// 100 registries, 48 were rewritten by passes for changes after every scheduled pass (344 PUTs of 400).
func TestOwnWritesNeverComeBackAsChanges(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	regOf := map[string]string{}
	var creds []string
	for i := 0; i < 100; i++ {
		c := w.registry(w.env, fmt.Sprintf("%012d.dkr.ecr.us-east-1.amazonaws.com", 100000000000+i), "active")
		regOf[c] = w.cred(c).RegistryID
		creds = append(creds, c)
	}
	var u *Updater
	var mu sync.Mutex
	echoes, changes := 0, 0
	w.rancher.OnRequest(func(r *http.Request) {
		if r.Method != http.MethodPut {
			return
		}
		id := path.Base(r.URL.Path)
		counted := u.Changed("", Change{RegistryID: regOf[id], CredentialID: id}) // Rancher reports the write at once
		mu.Lock()
		defer mu.Unlock()
		echoes++
		if counted {
			changes++
		}
	})
	l := w.startLoopWith(t, w.config(), func(x *Updater) { u = x })
	for pass := 1; pass <= 2; pass++ {
		due := l.next(t)
		if res := l.last(); res.Kind != PassScheduled || res.Updated != 100 {
			t.Fatalf("pass %d: kind %s, updated %d", pass, res.Kind, res.Updated)
		}
		mu.Lock()
		if echoes != 100*pass || changes != 0 {
			t.Errorf("after scheduled pass %d: %d of %d echoes taken for changes", pass, changes, echoes)
		}
		mu.Unlock()
		l.clock.advanceTo(due)
	}
	l.next(t)
	if n := l.count(); n != 3 {
		t.Errorf("%d passes, want the 3 scheduled ones", n)
	}
	for _, c := range creds {
		if n := w.putsTo(c); n != 3 {
			t.Errorf("credential %s written %d times by 3 scheduled passes", c, n)
		}
	}
}

// TestLateEchoIsStillAnEcho (issue 19, point 3): an echo is recognised by what was written, not by how soon it
// comes: each write expects one report of its credential, taken by the first that comes, 6 s or 59 s later. A hand
// edit is rewritten once, not every time its rewrite's echo comes back (before, with echoes later than 5 s, one
// hand edit made a PUT every ~7 s without end). An echo not seen for a minute is given up (a report after that is
// a change), and so are the echoes expected when the stream reconnects (reports were lost meanwhile).
func TestLateEchoIsStillAnEcho(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	a := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	l := w.startLoop(t, w.config())
	due := l.next(t)
	l.clock.advanceTo(l.clock.Now().Add(6 * time.Second))
	l.echo(t, w, a) // the scheduled pass's write, reported 6 s later

	handEdit := func() {
		t.Helper()
		if !l.u.Changed("", Change{RegistryID: w.cred(a).RegistryID, CredentialID: a}) {
			t.Fatal("the hand edit was ignored")
		}
	}
	handEdit()
	l.step(t)
	if res := l.waitPasses(t, 2); res.Updated != 1 {
		t.Fatalf("pass for the hand edit: updated %d", res.Updated)
	}
	l.next(t)
	l.clock.advanceTo(l.clock.Now().Add(59 * time.Second))
	l.echo(t, w, a) // the rewrite's echo, 59 s late
	if next := l.wakeAt(t); !next.Equal(due) || l.count() != 2 {
		t.Errorf("after the late echo: %d passes, next at %s; want 2 and the scheduled pass at %s", l.count(), next, due)
	}
	if n := w.putsTo(a); n != 2 {
		t.Errorf("the edited credential was written %d times, want 2: the scheduled pass and one rewrite", n)
	}

	// An echo expected for longer than a minute is given up: what comes then is a change.
	handEdit()
	l.step(t)
	l.waitPasses(t, 3)
	l.next(t)
	l.clock.advanceTo(l.clock.Now().Add(echoExpiry + time.Second))
	handEdit()
	l.step(t)
	l.waitPasses(t, 4)

	// A stream that connects again gives up the echoes it expected.
	l.next(t)
	if !l.u.expecting("", a) {
		t.Fatal("no echo expected after a write")
	}
	l.u.Changed("", Change{Resync: true})
	handEdit()
	if l.u.expecting("", a) {
		t.Error("an echo is still expected after the stream connected again")
	}
}

// TestChangesAreBounded (issue 19, point 5): a change naming an id longer than Rancher's (64 bytes) is dropped and
// kept nowhere; past MaxPendingChanges credentials of one environment between two takes of the loop, the
// environment's changes count as lost and no id is kept; lost changes make the environment's next pass write every
// credential of it. Before, the pending changes had no bound: 600 changes with 1 MiB ids held 308 MiB of heap.
func TestChangesAreBounded(t *testing.T) {
	u := &Updater{clock: newFakeClock(time.Now()), inbox: newInbox()}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	mib := strings.Repeat("x", 1<<20)
	for i := 0; i < 600; i++ {
		id := strconv.Itoa(i) + mib
		if u.Changed("", Change{RegistryID: "1sp1", CredentialID: id}) || u.Changed("", Change{RegistryID: id}) ||
			u.Changed("", Change{ServiceID: id, Images: []string{"docker:" + ecrHost(acct, "eu-west-1") + "/x"}}) {
			t.Fatal("a change with an id of 1 MiB was taken")
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("600 changes with ids of 1 MiB: heap in use %.1f MiB before, %.1f MiB after",
		float64(before.HeapInuse)/(1<<20), float64(after.HeapInuse)/(1<<20))
	if changes, n := u.inbox.take(); len(changes) != 0 || n != 0 {
		t.Fatalf("%d changes kept of ids of 1 MiB", n)
	}
	for i := 0; i < MaxPendingChanges+100; i++ {
		u.Changed("", Change{RegistryID: "1sp1", CredentialID: "1c" + strconv.Itoa(100000+i)})
	}
	if changes, _ := u.inbox.take(); changes[""] == nil || !changes[""].all || len(changes[""].forget) != 0 {
		t.Errorf("changes after %d credentials: %+v, want every credential and no id", MaxPendingChanges+100, changes[""])
	}

	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	for i := 0; i < 3; i++ {
		w.registry(w.env, ecrHost([]string{acct, other, "111111111111"}[i], "us-east-1"), "active")
	}
	l := w.startLoop(t, w.config())
	l.next(t)
	l.u.Changed("", Change{Lost: true})
	l.step(t)
	if res := l.waitPasses(t, 2); res.Kind != PassEvent || res.Updated != 3 {
		t.Errorf("pass after changes were lost: kind %s, updated %d, want every credential", res.Kind, res.Updated)
	}
}

// TestServiceEventsThatCannotChangeAnImage (issue 19, point 7): with DISCOVER_REGISTRIES, a service event counts
// only when the images it shows differ from those the last read found: health flaps, scaling and restarts (the same
// images), and services without a launchConfig, make no pass; an upgrade to an image of a registry nobody added,
// or a new service, does. Before, every service event made a pass: 20 passes and 60 requests in 10 s of ordinary
// noise.
func TestServiceEventsThatCannotChangeAnImage(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	east, west := ecrHost(acct, "us-east-1"), ecrHost(acct, "us-west-2")
	w.registry(w.env, east, "active")
	web := w.rancher.AddService(w.env, "web", east+"/web:1", east+"/log:1")
	lb := w.rancher.AddService(w.env, "lb", "rancher/lb-service-haproxy:v0.9.1")
	cfg := w.config()
	cfg.Rules.Discover = true
	l, f := w.startStreamed(t, cfg)
	l.next(t)
	f.send(t, "", rancher.Event{Kind: rancher.Connected})
	l.step(t) // the catch-up pass reads the services
	l.waitPasses(t, 2)
	due := l.next(t)
	w.rancher.ResetRequests()

	service := func(id string, images ...string) rancher.Event {
		return rancher.Event{Kind: rancher.Changed, ResourceType: rancher.TypeService, ResourceID: id, Images: images}
	}
	for i := 0; i < 20; i++ {
		f.send(t, "", service(web, "docker:"+east+"/web:1", "docker:"+east+"/log:1"))
		f.send(t, "", service(lb, "docker:rancher/lb-service-haproxy:v0.9.1"))
		f.send(t, "", service("1s"+strconv.Itoa(1000+i))) // an external or DNS service: no launchConfig
	}
	if next := l.wakeAt(t); !next.Equal(due) || l.count() != 2 || w.rancher.RequestCount() != 0 {
		t.Fatalf("after 60 service events that change no image: %d passes, %d requests, next at %s", l.count(),
			w.rancher.RequestCount(), next)
	}

	// An upgrade to the image of a registry nobody added: a pass creates the registry.
	w.rancher.SetServiceImage(web, west+"/web:2")
	f.send(t, "", service(web, "docker:"+west+"/web:2", "docker:"+east+"/log:1"))
	l.step(t)
	if res := l.waitPasses(t, 3); res.Kind != PassEvent || res.RegistriesCreated != 1 {
		t.Fatalf("pass for the upgrade: kind %s, registries created %d", res.Kind, res.RegistriesCreated)
	}
	// A new service with an image: a pass (its registry exists: nothing to create).
	l.next(t)
	f.send(t, "", service("1s77", "docker:"+east+"/api:1"))
	l.step(t)
	if res := l.waitPasses(t, 4); res.Kind != PassEvent || res.Created != 0 {
		t.Fatalf("pass for the new service: kind %s, created %d", res.Kind, res.Created)
	}
}

// TestDebouncePerEnvironment (issue 15, point 5): an environment's pass comes Debounce after its first change, not
// later when more changes follow (a burst is one pass, the debounce does not restart); each environment has its own
// debounce; and a stream of changes costs an environment at most a pass every half second.
func TestDebouncePerEnvironment(t *testing.T) {
	m := newMulti(t, "Production")
	l := m.startLoop(t, m.config("all"))
	l.next(t)
	prod := m.envs["Production"]
	for _, id := range m.envs {
		if !l.u.Changed(id, Change{Resync: true}) {
			t.Fatal("a change was ignored")
		}
	}
	l.step(t) // a pass of both environments
	l.waitPasses(t, 2)
	l.next(t)
	start := l.clock.Now().Add(time.Second)
	l.clock.advanceTo(start)
	// Production's first change at +0, the Default environment's at +150 ms, with more changes of each meanwhile.
	l.u.Changed(prod, Change{RegistryID: "1sp1"})
	l.clock.advanceTo(start.Add(100 * time.Millisecond))
	l.u.Changed(prod, Change{RegistryID: "1sp1"})
	l.clock.advanceTo(start.Add(150 * time.Millisecond))
	l.u.Changed(m.env, Change{RegistryID: "1sp1"})
	l.u.Changed(prod, Change{RegistryID: "1sp1"})
	if at := l.next(t); !at.Equal(start.Add(Debounce)) {
		t.Fatalf("Production due %s after its first change, want %s", at.Sub(start), Debounce)
	}
	l.clock.advanceTo(start.Add(Debounce))
	if res := l.waitPasses(t, 3); len(res.Envs) != 1 || res.Envs[0].ID != prod {
		t.Fatalf("pass 3 covers %d environments, want Production alone", len(res.Envs))
	}
	if at := l.next(t); !at.Equal(start.Add(150*time.Millisecond + Debounce)) {
		t.Fatalf("Default due %s after Production's first change, want %s", at.Sub(start), 150*time.Millisecond+Debounce)
	}
	l.clock.advanceTo(start.Add(150*time.Millisecond + Debounce))
	if res := l.waitPasses(t, 4); len(res.Envs) != 1 || res.Envs[0].ID != m.env {
		t.Fatalf("pass 4 covers %d environments, want Default alone", len(res.Envs))
	}
	// Production changes again at once: its pass comes half a second after the start of its last one.
	l.next(t)
	l.u.Changed(prod, Change{RegistryID: "1sp1"})
	if at := l.next(t); !at.Equal(start.Add(Debounce + minEventGap)) {
		t.Errorf("Production due again %s after its first change, want %s", at.Sub(start), Debounce+minEventGap)
	}
}

// TestServiceImagesAreBounded: the inbox keeps a digest of each service's images, not the images an event carries,
// and past maxServicesKnown services of an environment a service event counts as a change without being kept.
func TestServiceImagesAreBounded(t *testing.T) {
	in := newInbox()
	big := strings.Repeat("x", 1<<20)
	if !in.imagesChanged("", "1s1", []string{big}) || in.imagesChanged("", "1s1", []string{big}) {
		t.Fatal("a new service's images are a change once, then not")
	}
	if !in.imagesChanged("", "1s1", []string{big + "y"}) {
		t.Fatal("changed images are a change")
	}
	known := in.images[""]
	for i := len(known); i < maxServicesKnown; i++ {
		known[fmt.Sprintf("1s%d", i+2)] = imagesDigest{}
	}
	if !in.imagesChanged("", "1s999999999", []string{"docker:nginx"}) {
		t.Error("a service past the bound is not a change")
	}
	if n := len(in.images[""]); n != maxServicesKnown {
		t.Errorf("%d services kept, want %d", n, maxServicesKnown)
	}
}
