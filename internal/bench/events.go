package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ecr-updater/ecr-updater/internal/promtext"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
	"github.com/ecr-updater/ecr-updater/updater"
)

// The event phase (issue 9), after the passes (which run with EVENTS off, so that their request counts are the
// minimum of a pass): a new updater instance with EVENTS on runs its loop (Run) over the same world. Once its
// first scheduled pass has written every credential and its streams are up, the bench measures
//   - the sockets held (one per environment) and the RSS before and after the streams came up;
//   - the CPU time the updater's process (this one; the stand-ins run in the world process) spends on 1,500
//     unrelated events in one environment (EmitNoise), and that they cost no Rancher request;
//   - the latency from a change in the stand-in to the fresh password stored, for 2 changes per environment (a
//     registry added with the password "placeholder", then a credential edited by hand through the REST API),
//     spread over a second per round: first with the stand-in publishing changes once a second as Cattle does,
//     then once every 10 ms, which leaves the updater's own share.
// The world makes each change and polls what Rancher stores every 2 ms, so the latencies are the world's clock
// from the end of the change to the write being stored.

// Targets of issue 9 and issue 15 (point 5).
const (
	targetEventP99  = 3 * time.Second // p99 from change to fresh password, with Cattle's 1 s batching
	targetNoiseCPU  = time.Second     // CPU for 1,500 unrelated events
	noiseEvents     = 1500
	fastBatch       = 10 * time.Millisecond
	changeSpreadFor = time.Second // the changes of a round are spread over this long
	// The updater's own share (10 ms publishing): the 200 ms debounce, one read and one write (issue 15, point 5).
	targetOwnP50 = 300 * time.Millisecond
	targetOwnP99 = 500 * time.Millisecond
)

// Commands of the control protocol for the event phase (with arguments, space-separated).
const (
	cmdBatch  = "batch"  // batch <ms>: publish changes once every <ms>; answer a worldAck
	cmdSubs   = "subs"   // answer a worldSubs
	cmdNoise  = "noise"  // noise <env index> <n>: EmitNoise; answer a worldAck with Checked = messages queued
	cmdChange = "change" // change add|edit <round> <spread ms>: one change per environment; answer a worldChanges
)

// worldSubs answers cmdSubs.
type worldSubs struct {
	Open     int `json:"open"`     // subscriber sockets open now
	Accepted int `json:"accepted"` // subscriptions accepted since the start
	Requests int `json:"requests"` // Rancher requests since the last reset
}

// worldChanges answers cmdChange: the latency of each change, in microseconds; -1 when the fresh password was not
// stored within the wait.
type worldChanges struct {
	Micros   []int64  `json:"micros"`
	Problems []string `json:"problems,omitempty"`
}

// changeWait bounds how long the world waits for one change to be refreshed.
const changeWait = 15 * time.Second

// pendingChange is one change the world made, waiting for Rancher to hold a fresh password again.
type pendingChange struct {
	cred, region string
	at           time.Time
	micros       int64 // latency; 0 while waiting, -1 when given up
}

// change makes one change per environment, spaced evenly over spread, and waits until each is refreshed: the
// credential holds user AWS and the password of the newest token of its region.
func (w *world) change(kind string, round int, spread time.Duration) worldChanges {
	n := len(w.envs)
	cp := &changePoller{w: w, n: n, ps: make([]*pendingChange, 0, n), done: make(chan struct{}), stop: make(chan struct{})}
	go cp.run()
	client := &http.Client{Timeout: 10 * time.Second}
	start := time.Now()
	for e, env := range w.envs {
		time.Sleep(time.Until(start.Add(spread * time.Duration(e) / time.Duration(n))))
		p, err := w.makeChange(client, kind, round, e, env)
		if err != nil {
			close(cp.stop)
			<-cp.done
			return worldChanges{Problems: []string{err.Error()}}
		}
		p.at = time.Now()
		cp.add(p)
	}
	<-cp.done
	var out worldChanges
	for _, p := range cp.ps {
		out.Micros = append(out.Micros, p.micros)
	}
	return out
}

// makeChange makes the change of a round in the e-th environment, env: a registry added ("add") or a credential
// edited by hand ("edit").
func (w *world) makeChange(client *http.Client, kind string, round, e int, env string) (*pendingChange, error) {
	switch kind {
	case "add":
		return w.addECRRegistry(round, e, env), nil
	case "edit":
		return w.editCredential(client, round, e, env)
	}
	return nil, errors.New("unknown change " + kind)
}

// addECRRegistry adds an ECR registry of a new account to the e-th environment, env, with a credential that holds
// the password "placeholder".
func (w *world) addECRRegistry(round, e int, env string) *pendingChange {
	p := &pendingChange{region: regions[e%len(regions)]}
	account := fmt.Sprintf("%012d", 900000000000+round*10000+e)
	reg := w.rancher.AddRegistry(env, account+".dkr.ecr."+p.region+".amazonaws.com", "active")
	p.cred = w.rancher.AddCredential(env, reg, ecrUser, "placeholder", "active")
	return p
}

// editCredential changes the round-th ECR credential of the e-th environment, env, by hand through the REST API.
func (w *world) editCredential(client *http.Client, round, e int, env string) (*pendingChange, error) {
	if round >= len(w.ecrByEnv[e]) {
		return nil, errors.New("no ECR credential left to edit")
	}
	p := &pendingChange{cred: w.ecrByEnv[e][round]}
	p.region = w.ecrCred[p.cred]
	body := `{"publicValue":"AWS","secretValue":"edited-by-hand-` + strconv.Itoa(round) + `"}`
	req, err := http.NewRequest(http.MethodPut, w.info.RancherURL+"/v2-beta/projects/"+env+"/registrycredentials/"+p.cred, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(w.info.AccessKey, w.info.SecretKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, errors.New("edit " + p.cred + ": " + err.Error())
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New("edit " + p.cred + ": " + resp.Status)
	}
	return p, nil
}

// changePoller polls what Rancher stores, every 2 ms, until each of the n changes of a round is refreshed or
// given up, or until stop is closed; it closes done when it returns.
type changePoller struct {
	w          *world
	n          int
	mu         sync.Mutex
	ps         []*pendingChange // the changes made so far
	done, stop chan struct{}
}

func (cp *changePoller) add(p *pendingChange) {
	cp.mu.Lock()
	cp.ps = append(cp.ps, p)
	cp.mu.Unlock()
}

func (cp *changePoller) run() {
	defer close(cp.done)
	for cp.poll() {
		select {
		case <-cp.stop:
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// poll looks once at every change still waiting; it reports whether one still waits or is yet to be made.
func (cp *changePoller) poll() bool {
	latest := map[string]string{}
	for _, is := range cp.w.ecr.Issued() {
		latest[is.Region] = is.Password
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	waiting := len(cp.ps) < cp.n
	for _, p := range cp.ps {
		if p.micros == 0 && cp.w.settle(p, latest) {
			waiting = true
		}
	}
	return waiting
}

// settle gives a waiting change its latency once Rancher holds the password of the newest token of its region
// (latest), or gives it up after changeWait; it reports whether the change still waits.
func (w *world) settle(p *pendingChange, latest map[string]string) bool {
	c, ok := w.rancher.Credential(p.cred)
	switch {
	case ok && c.PublicValue == ecrUser && latest[p.region] != "" && c.SecretValue == latest[p.region]:
		p.micros = max(time.Since(p.at).Microseconds(), 1)
	case time.Since(p.at) > changeWait:
		p.micros = -1
	default:
		return true
	}
	return false
}

// command runs one event-phase command line; ok is false for an unknown command.
func (w *world) command(line string) (any, bool) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil, false
	}
	arg := func(i int) int {
		if i < len(f) {
			n, _ := strconv.Atoi(f[i])
			return n
		}
		return 0
	}
	switch f[0] {
	case cmdBatch:
		w.rancher.SetEventOptions(ranchertest.EventOptions{BatchInterval: time.Duration(arg(1)) * time.Millisecond})
		return worldAck{OK: true}, true
	case cmdSubs:
		return worldSubs{Open: w.rancher.Subscribers(""), Accepted: w.rancher.Subscriptions(), Requests: w.rancher.RequestCount()}, true
	case cmdNoise:
		e := arg(1)
		if e < 0 || e >= len(w.envs) {
			return worldAck{Problems: []string{"no such environment"}}, true
		}
		n := w.rancher.EmitNoise(w.envs[e], arg(2))
		return worldAck{OK: n == arg(2), Checked: n}, true
	case cmdChange:
		if len(f) != 4 {
			return worldChanges{Problems: []string{"usage: change add|edit <round> <spread ms>"}}, true
		}
		return w.change(f[1], arg(2), time.Duration(arg(3))*time.Millisecond), true
	}
	return nil, false
}

// eventFigures are the measurements of the event phase.
type eventFigures struct {
	Envs                   int
	Sockets, Accepted      int   // subscriber sockets open in the stand-in, subscriptions accepted
	FDSockets              int   // socket file descriptors the updater's process holds
	BeforeKiB, BeforeAnon  int64 // idle RSS after the first scheduled pass, before the streams came up
	AfterKiB, AfterAnon    int64 // idle RSS with every stream up
	HeapBefore, HeapAfter  uint64
	ResyncRequests         int // Rancher requests of the catch-up passes after the streams connected
	NoiseCPU               time.Duration
	NoiseWall              time.Duration
	NoiseQueued, NoiseSeen int
	NoiseRequests          int
	Slow, Fast             []latency // per change, with 1 s and 10 ms batching
	SlowProblems, Problems []string
	SmallPasses, Scheduled int
	Spread                 time.Duration // the changes of a round are spread over this long
}

type latency struct {
	kind string
	d    time.Duration // < 0: not refreshed in time
}

// eventPhase runs one updater with EVENTS on over the world and measures it.
func eventPhase(ctx context.Context, w *worldProc, o options) (*eventFigures, error) {
	f := &eventFigures{Envs: o.Envs, Spread: o.spread}
	if f.Spread <= 0 {
		f.Spread = changeSpreadFor
	}
	if _, err := w.ack(cmdBatch + " 1000"); err != nil {
		return f, err
	}
	r := &eventRun{w: w, f: f, envs: o.Envs, batch: time.Second}
	if err := r.start(ctx, o.concurrency); err != nil {
		return f, err
	}
	defer r.stop()
	for _, step := range []func() error{r.connect, r.noise, r.latency} {
		if err := step(); err != nil {
			return f, err
		}
	}
	return f, nil
}

// eventRun is the updater of the event phase, running its loop, and what the phase has measured.
type eventRun struct {
	w     *worldProc
	f     *eventFigures
	envs  int
	batch time.Duration // the stand-in's publishing interval now
	reg   *promtext.Registry
	u     *updater.Updater
	stop  func()

	mu       sync.Mutex
	req0     int // Rancher requests when the first scheduled pass ended, before the streams started
	firstErr error
}

// start builds the updater with EVENTS on, starts its loop, and waits for its first scheduled pass. The figures
// of "before the streams" are taken in that pass's OnPass, which the loop calls before it starts the streams.
func (r *eventRun) start(ctx context.Context, concurrency int) error {
	cfg := config(r.w.info, concurrency)
	cfg.Events = true
	r.reg = promtext.NewRegistry()
	cfg.Metrics = updater.NewMetrics(r.reg, "bench", "bench")
	first := make(chan struct{})
	cfg.OnPass = func(res *updater.Result) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if res.Kind != updater.PassScheduled {
			r.f.SmallPasses++
			return
		}
		if r.f.Scheduled++; r.f.Scheduled == 1 {
			r.beforeStreams()
			close(first)
		}
	}
	u, err := updater.New(ctx, cfg)
	if err != nil {
		return err
	}
	r.u = u
	runCtx, cancel := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- u.Run(runCtx) }()
	r.stop = func() {
		cancel()
		<-ran
		u.Close()
	}
	select {
	case <-first:
	case <-time.After(time.Minute):
		r.stop()
		r.stop = func() {}
		return fmt.Errorf("no scheduled pass within a minute")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.firstErr
}

// beforeStreams takes what the updater holds without streams, and the Rancher requests so far (the streams start
// once OnPass returns: what the stand-in counts from here on is theirs).
func (r *eventRun) beforeStreams() {
	runtime.GC()
	debug.FreeOSMemory()
	if st, err := procStatus(); err == nil {
		r.f.BeforeKiB, r.f.BeforeAnon = st["VmRSS"], st["RssAnon"]
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.f.HeapBefore = ms.HeapInuse
	var subs worldSubs
	r.firstErr = r.w.ask(cmdSubs, &subs) // no reset: the tokens issued are what the poller checks against
	r.req0 = subs.Requests
}

// connect waits for one socket per environment and for the catch-up passes each asks for once connected, and
// measures the sockets, the requests and the memory.
func (r *eventRun) connect() error {
	f := r.f
	var subs worldSubs
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := r.w.ask(cmdSubs, &subs); err != nil {
			return err
		}
		connected := counter(r.reg, updater.MetricsPrefix+"_events_connected")
		if subs.Open >= r.envs && connected >= float64(r.envs) {
			break
		}
		if time.Now().After(deadline) {
			f.Problems = append(f.Problems, fmt.Sprintf("after 30 s, %d sockets open and %.0f streams connected, want %d", subs.Open, connected, r.envs))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The catch-up passes (debounced): wait until Rancher has had no request for 700 ms, at least 1.5 s in all
	// and at most 15 s (a loaded machine can delay a pass).
	quietSince, last, settle := time.Now(), subs.Requests, time.Now()
	for time.Since(settle) < 15*time.Second {
		time.Sleep(100 * time.Millisecond)
		if err := r.w.ask(cmdSubs, &subs); err != nil {
			return err
		}
		if subs.Requests != last {
			last, quietSince = subs.Requests, time.Now()
		}
		if time.Since(settle) >= 1500*time.Millisecond && time.Since(quietSince) >= 700*time.Millisecond {
			break
		}
	}
	r.mu.Lock()
	f.Sockets, f.Accepted, f.ResyncRequests = subs.Open, subs.Accepted, subs.Requests-r.req0
	r.mu.Unlock()
	f.FDSockets = socketFDs()
	runtime.GC()
	debug.FreeOSMemory()
	if st, err := procStatus(); err == nil {
		f.AfterKiB, f.AfterAnon = st["VmRSS"], st["RssAnon"]
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f.HeapAfter = ms.HeapInuse
	return nil
}

// noise sends 1,500 unrelated events to one environment and measures the updater process's CPU for them.
func (r *eventRun) noise() error {
	f := r.f
	var subs worldSubs
	if err := r.w.ask(cmdSubs, &subs); err != nil {
		return err
	}
	req0 := subs.Requests
	other := updater.MetricsPrefix + `_events_received_total{type="other"}`
	seen0 := counter(r.reg, other)
	cpu0, t0 := cpuTime(), time.Now()
	a, err := r.w.ack(fmt.Sprintf("%s 0 %d", cmdNoise, noiseEvents))
	if err != nil {
		return err
	}
	f.NoiseQueued = a.Checked
	for time.Since(t0) < 30*time.Second && counter(r.reg, other)-seen0 < float64(noiseEvents) {
		time.Sleep(20 * time.Millisecond)
	}
	f.NoiseCPU, f.NoiseWall = cpuTime()-cpu0, time.Since(t0)
	f.NoiseSeen = int(counter(r.reg, other) - seen0)
	if err := r.w.ask(cmdSubs, &subs); err != nil {
		return err
	}
	f.NoiseRequests = subs.Requests - req0
	return nil
}

// latency adds a registry with a placeholder password in every environment, with Cattle's 1 s batching and then
// with 10 ms, then edits a credential by hand in every environment, likewise.
func (r *eventRun) latency() error {
	f := r.f
	for _, rd := range []struct {
		kind  string
		n     int
		batch time.Duration
		into  *[]latency
	}{{"add", 0, time.Second, &f.Slow}, {"add", 1, fastBatch, &f.Fast}, {"edit", 0, time.Second, &f.Slow}, {"edit", 1, fastBatch, &f.Fast}} {
		if err := r.round(rd.kind, rd.n, rd.batch, rd.into); err != nil {
			return err
		}
	}
	return nil
}

// round makes one change per environment, spread over f.Spread, with the stand-in publishing every batch.
func (r *eventRun) round(kind string, n int, batch time.Duration, into *[]latency) error {
	if _, err := r.w.ack(fmt.Sprintf("%s %d", cmdBatch, batch/time.Millisecond)); err != nil {
		return err
	}
	// The publisher picks up the new interval once the timer of the old one fires: wait for both.
	time.Sleep(max(r.batch, batch) + 100*time.Millisecond)
	r.batch = batch
	var ch worldChanges
	if err := r.w.ask(fmt.Sprintf("%s %s %d %d", cmdChange, kind, n, r.f.Spread/time.Millisecond), &ch); err != nil {
		return err
	}
	r.f.Problems = append(r.f.Problems, ch.Problems...)
	for _, us := range ch.Micros {
		*into = append(*into, latency{kind: kind, d: time.Duration(us) * time.Microsecond})
	}
	time.Sleep(time.Second) // let the echoes of these writes arrive before the next round
	return nil
}

// counter reads one sample of the updater's metrics: a series by its name and labels as exposed, or the sum of a
// family's series by its bare name.
func counter(reg *promtext.Registry, series string) float64 {
	var b bytes.Buffer
	if _, err := reg.WriteTo(&b); err != nil {
		return 0
	}
	sum := 0.0
	for _, line := range strings.Split(b.String(), "\n") {
		i := strings.LastIndexByte(line, ' ') // label values may hold spaces: "1a5 (bench-001)"
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		name, value := line[:i], line[i+1:]
		if name == series || (!strings.Contains(series, "{") && strings.HasPrefix(name, series+"{")) {
			if v, err := strconv.ParseFloat(value, 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}

// socketFDs counts the sockets this process holds open.
func socketFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// percentile is the nearest-rank percentile of the latencies; a change never refreshed counts as infinite.
func percentile(ls []latency, p float64) (time.Duration, bool) {
	if len(ls) == 0 {
		return 0, false
	}
	ds := make([]time.Duration, len(ls))
	for i, l := range ls {
		ds[i] = l.d
		if l.d < 0 {
			ds[i] = 1<<63 - 1
		}
	}
	slices.Sort(ds)
	i := int(float64(len(ds))*p+0.999999) - 1
	i = min(max(i, 0), len(ds)-1)
	return ds[i], ds[i] != 1<<63-1
}

func (f *eventFigures) evaluate(add func(target, ok bool, what, got string)) {
	p50, ok50 := percentile(f.Slow, 0.50)
	p99, ok := percentile(f.Slow, 0.99)
	add(true, ok && p99 < targetEventP99 && len(f.Slow) == 2*f.Envs,
		fmt.Sprintf("target: events, %d changes, p99 change -> fresh password < %s (1 s batching)", 2*f.Envs, targetEventP99),
		fmt.Sprintf("p50 %s, p99 %s", msOr(p50, ok50), msOr(p99, ok)))
	own50, okOwn50 := percentile(f.Fast, 0.50)
	own99, okOwn := percentile(f.Fast, 0.99)
	add(true, okOwn50 && okOwn && own50 <= targetOwnP50 && own99 <= targetOwnP99 && len(f.Fast) == 2*f.Envs,
		fmt.Sprintf("target: events, %d changes, the updater's own share (10 ms publishing): p50 <= %s, p99 <= %s", 2*f.Envs, targetOwnP50, targetOwnP99),
		fmt.Sprintf("p50 %s, p99 %s", msOr(own50, okOwn50), msOr(own99, okOwn)))
	add(true, f.NoiseSeen >= noiseEvents && f.NoiseCPU < targetNoiseCPU,
		fmt.Sprintf("target: CPU for %d unrelated events < %s", noiseEvents, targetNoiseCPU),
		fmt.Sprintf("%s (%d received)", ms(f.NoiseCPU), f.NoiseSeen))
	add(false, f.NoiseRequests == 0, "events: no Rancher request for unrelated events", strconv.Itoa(f.NoiseRequests)+" requests")
	add(false, f.Sockets == f.Envs && f.Accepted == f.Envs, fmt.Sprintf("events: one socket per environment (%d)", f.Envs),
		fmt.Sprintf("%d open, %d accepted", f.Sockets, f.Accepted))
	add(false, len(f.Problems) == 0 && len(f.Fast) == 2*f.Envs, "events: every stream connected, every change made and refreshed",
		orNone(strings.Join(f.Problems, "; ")))
}

func msOr(d time.Duration, ok bool) string {
	if !ok {
		return "not refreshed"
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

func orNone(s string) string {
	if s == "" {
		return "yes"
	}
	return s
}

func (f *eventFigures) print(out io.Writer) {
	fmt.Fprintf(out, "event phase (issue 9): a second updater with EVENTS on, its loop running (Run) over the same world\n")
	fmt.Fprintf(out, "  sockets: %d subscriber sockets open in the stand-in (%d accepted since the start), %d socket fds in the updater's process\n",
		f.Sockets, f.Accepted, f.FDSockets)
	fmt.Fprintf(out, "  idle RSS before the streams: %s (anonymous %s, Go heap %s); with %d streams up: %s (anonymous %s, Go heap %s)\n",
		mb(f.BeforeKiB), mb(f.BeforeAnon), mbBytes(f.HeapBefore), f.Sockets, mb(f.AfterKiB), mb(f.AfterAnon), mbBytes(f.HeapAfter))
	if f.Sockets > 0 {
		fmt.Fprintf(out, "    that is %.1f KB of RSS and %.1f KB of Go heap per stream\n",
			float64(f.AfterKiB-f.BeforeKiB)*1.024/float64(f.Sockets), (float64(f.HeapAfter)-float64(f.HeapBefore))/1e3/float64(f.Sockets))
	}
	fmt.Fprintf(out, "  streams connecting: %d Rancher requests (the upgrades, and each environment's catch-up pass: 2 lists)\n", f.ResyncRequests)
	fmt.Fprintf(out, "  %d unrelated events (EmitNoise, %d queued) in one environment: %s of the updater process's CPU, %s wall, %d received, %d Rancher requests\n",
		noiseEvents, f.NoiseQueued, ms(f.NoiseCPU), ms(f.NoiseWall), f.NoiseSeen, f.NoiseRequests)
	line := func(name string, ls []latency) {
		p50, ok50 := percentile(ls, 0.50)
		p99, ok99 := percentile(ls, 0.99)
		mx, okMax := percentile(ls, 1)
		fmt.Fprintf(out, "  %s: %d changes, p50 %s, p99 %s, max %s\n", name, len(ls), msOr(p50, ok50), msOr(p99, ok99), msOr(mx, okMax))
		for _, kind := range []string{"add", "edit"} {
			var sub []latency
			for _, l := range ls {
				if l.kind == kind {
					sub = append(sub, l)
				}
			}
			p50, ok50 := percentile(sub, 0.50)
			p99, ok99 := percentile(sub, 0.99)
			what := "registry added with password \"placeholder\""
			if kind == "edit" {
				what = "credential edited by hand (REST PUT)"
			}
			fmt.Fprintf(out, "    %-44s %d: p50 %s, p99 %s\n", what, len(sub), msOr(p50, ok50), msOr(p99, ok99))
		}
	}
	fmt.Fprintf(out, "  latency from the change in the stand-in to the fresh password stored (2 changes per environment, each round spread over %s):\n", f.Spread)
	line("Rancher publishing changes once a second (Cattle)", f.Slow)
	line("publishing every 10 ms (the updater's own share)", f.Fast)
	fmt.Fprintln(out)
}
