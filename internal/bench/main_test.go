package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the world process, as the bench binary does.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "world" {
		os.Exit(worldMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestMinimumOfIssue5(t *testing.T) {
	sz := size{Envs: 50, Registries: 40}
	if got := minimum(sz, true); got != 1153 {
		t.Errorf("first pass minimum = %d, want 3 + 50*(1+2+20) = 1153", got)
	}
	if got := minimum(sz, false); got != 1101 {
		t.Errorf("later pass minimum = %d, want 1 + 50*22 = 1101", got)
	}
	if got := sz.regionsInUse(); got != 3 {
		t.Errorf("ECR calls per pass = %d, want 3", got)
	}
}

// TestSmallWorld runs the whole bench, world process included, on a small world and checks every count.
func TestSmallWorld(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := options{size: size{Envs: 3, Registries: 9}, concurrency: 4, passes: 3, baseline: true}
	rep, err := bench(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.print(&out)
	for _, c := range rep.checks {
		if !c.target && !c.ok {
			t.Errorf("%s: %s", c.what, c.got)
		}
	}
	// 4 ECR registries per environment (9 / 2), in 3 regions.
	wants := []int{3 + 3*(3+4), 1 + 3*(2+4), 1 + 3*(2+4)}
	for _, rf := range []*runFigures{rep.measured, rep.baseline} {
		if len(rf.Passes) != len(wants) {
			t.Fatalf("%s: %d passes, want %d", rf.Name, len(rf.Passes), len(wants))
		}
		for i, p := range rf.Passes {
			if p.Rancher != wants[i] || p.ECR != 3 || p.Res.updated != 12 {
				t.Errorf("%s pass %d: %d Rancher requests, %d ECR calls, %d updated; want %d, 3, 12", rf.Name, p.N,
					p.Rancher, p.ECR, p.Res.updated, wants[i])
			}
		}
	}
	for _, want := range []string{"machine:", "minimum:  first pass 3 + 3 x (1 schemas + 2 lists + 4 writes) = 24 Rancher requests", "speed-up", "target: wall time of a pass"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestVerifyCatchesStaleCredentials checks that the world's verification fails when no pass has run.
func TestVerifyCatchesStaleCredentials(t *testing.T) {
	w := newWorld(size{Envs: 2, Registries: 4})
	defer w.close()
	if a := w.verify(); a.OK || len(a.Problems) == 0 {
		t.Errorf("verify before any pass = %+v, want problems", a)
	}
	if w.info.ECRCreds != 4 || w.info.OtherCreds != 4 {
		t.Errorf("world has %d ECR and %d other credentials, want 4 and 4", w.info.ECRCreds, w.info.OtherCreds)
	}
}

func TestSymbolPackage(t *testing.T) {
	for name, want := range map[string]string{
		"github.com/aws/smithy-go/transport/http.(*Client).Do":                                    "github.com/aws/smithy-go/transport/http",
		"type:.eq.[4]net/url.URL":                                                                 "net/url",
		"type:.eq.github.com/rancher/go-rancher/v2.RancherClient":                                 "github.com/rancher/go-rancher/v2",
		"go:itab.*github.com/ecr-updater/ecr-updater/internal/promtext.Registry,net/http.Handler": "github.com/ecr-updater/ecr-updater/internal/promtext",
		"runtime.mallocgc":                         "runtime",
		"slices.SortFunc[go.shape.[]string]":       "slices",
		"gopkg.in/yaml%2ev3.(*parser).parse":       "gopkg.in/yaml.v3",
		"crypto/internal/fips140/drbg.memory":      "crypto/internal/fips140/drbg",
		"vendor/golang.org/x/net/http2/hpack.init": "vendor/golang.org/x/net/http2/hpack",
	} {
		if got := symbolPackage(name); got != want {
			t.Errorf("symbolPackage(%q) = %q, want %q", name, got, want)
		}
	}
	g := groupMap{"net/url": "std: net, net/http", "golang.org/x/net/http2/hpack": "x"}
	if g.of("net/url.(*URL).String") != "std: net, net/http" || g.of("vendor/golang.org/x/net/http2/hpack.init") != groupOther {
		t.Error("groupMap.of")
	}
}

// TestEventPhase runs the event phase on a small world: one socket per environment, every change refreshed, the
// noise received without a Rancher request, and the checks and figures printed.
func TestEventPhase(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 15 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := options{size: size{Envs: 3, Registries: 9}, concurrency: 4, passes: 2, events: true, spread: 100 * time.Millisecond}
	rep, err := bench(ctx, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := rep.events
	if f == nil {
		t.Fatal("no event figures")
	}
	if f.Sockets != 3 || f.Accepted != 3 {
		t.Errorf("%d sockets open, %d accepted; want 3 and 3", f.Sockets, f.Accepted)
	}
	// Each environment's catch-up pass lists its registries and credentials; the upgrades count too.
	if f.ResyncRequests != 3*3 {
		t.Errorf("%d Rancher requests while the streams connected, want 3 upgrades + 3 x 2 lists", f.ResyncRequests)
	}
	if f.NoiseSeen != noiseEvents || f.NoiseQueued != noiseEvents || f.NoiseRequests != 0 || f.NoiseCPU <= 0 {
		t.Errorf("noise: %d queued, %d received, %d Rancher requests, CPU %s", f.NoiseQueued, f.NoiseSeen, f.NoiseRequests, f.NoiseCPU)
	}
	for name, ls := range map[string][]latency{"1 s batching": f.Slow, "10 ms batching": f.Fast} {
		if len(ls) != 6 {
			t.Errorf("%s: %d changes, want 2 per environment", name, len(ls))
		}
		kinds := map[string]int{}
		for _, l := range ls {
			kinds[l.kind]++
			if l.d <= 0 || l.d > changeWait {
				t.Errorf("%s: a %s change took %s", name, l.kind, l.d)
			}
		}
		if kinds["add"] != 3 || kinds["edit"] != 3 {
			t.Errorf("%s: changes by kind %v, want 3 add and 3 edit", name, kinds)
		}
	}
	if len(f.Problems) > 0 {
		t.Errorf("problems: %v", f.Problems)
	}
	var out bytes.Buffer
	rep.print(&out)
	for _, want := range []string{"event phase (issue 9)", "Rancher publishing changes once a second (Cattle): 6 changes, p50 ",
		"target: events, 6 changes, p99 change -> fresh password < 3s (1 s batching)", "target: CPU for 1500 unrelated events < 1s",
		"events: one socket per environment (3)  "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, c := range rep.checks {
		if !c.target && !c.ok {
			t.Errorf("%s: %s", c.what, c.got)
		}
	}
}

func TestPercentile(t *testing.T) {
	var ls []latency
	for i := 1; i <= 100; i++ {
		ls = append(ls, latency{d: time.Duration(i) * time.Millisecond})
	}
	if p, ok := percentile(ls, 0.5); !ok || p != 50*time.Millisecond {
		t.Errorf("p50 = %s", p)
	}
	if p, ok := percentile(ls, 0.99); !ok || p != 99*time.Millisecond {
		t.Errorf("p99 = %s", p)
	}
	ls[0].d = -1 // never refreshed: counts as the slowest
	if _, ok := percentile(ls, 1); ok {
		t.Error("a change never refreshed does not show at p100")
	}
	if p, ok := percentile(ls, 0.99); !ok || p != 100*time.Millisecond {
		t.Errorf("p99 with one lost = %s", p)
	}
}
