// Command bench is the benchmark of issue 5: one updater instance (an account API key, RANCHER_ENVIRONMENTS=all,
// concurrency 8) runs passes over 50 environments x 40 registries (half of them ECR, across three regions, each
// with one active credential) against the Rancher and ECR stand-ins, which add 5 ms to every Rancher request. It
// prints the wall time of each pass, the Rancher requests and ECR calls (counted by the stand-ins and by the
// updater, checked against the minimum), the peak RSS and the idle RSS between passes, and the machine. These passes
// run with EVENTS off. The memory targets (idle RSS between passes, peak RSS) are the daemon's: the released
// binary runs the same passes over the same world in a process of its own (daemonrun.go), and its RSS is the figure
// checked; the RSS of the bench's own process, which holds the bench besides the updater, is printed for the
// record. Then (unless -events=false) a second updater with EVENTS on runs its loop over the same world: the event
// phase of issue 9 (events.go) measures the latency from a change to the fresh password, the CPU spent on
// unrelated events, and the sockets and memory the streams hold. It exits 1 when a count differs from the minimum or
// a target is missed.
//
// The stand-ins run in a process of their own (this binary again, see world.go), so that no memory figure holds
// theirs.
//
//	make bench                         # the default run
//	go run ./internal/bench -baseline  # also a sequential run (concurrency 1), for the speed-up
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/promtext"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/rancher"
	"github.com/ecr-updater/ecr-updater/updater"
)

// The targets of issue 5, for the default world (50 x 40, 5 ms per Rancher request).
const (
	targetWall = 3 * time.Second
	targetPeak = 40_000_000 // bytes: MB = 10^6 bytes, the stricter reading
	targetIdle = 20_000_000
)

func main() {
	if os.Getenv(roleEnv) == "world" {
		os.Exit(worldMain(os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	size
	concurrency int
	passes      int
	baseline    bool
	discover    bool
	pause       time.Duration
	memProfile  string
	cpuProfile  string
	events      bool
	daemonRun   bool          // measure the memory targets on the daemon binary (daemonrun.go)
	spread      time.Duration // the event phase's changes of one round are spread over this long; 0: 1 s
}

// run is the bench: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.flags(fs)
	fs.IntVar(&o.concurrency, "concurrency", 8, "RANCHER_CONCURRENCY of the measured run")
	fs.IntVar(&o.passes, "passes", 2, "passes per run (at least 2: the first connects, the others are steady state)")
	fs.BoolVar(&o.baseline, "baseline", false, "also run the passes sequentially (concurrency 1) and print the speed-up")
	fs.BoolVar(&o.discover, "discover", true, "also run the passes with DISCOVER_REGISTRIES on: one services list more per environment and pass")
	fs.DurationVar(&o.pause, "pause", 250*time.Millisecond, "idle pause after each pass before reading the idle RSS")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile (pprof) here, taken while idle after the last measured pass (skews the figures)")
	fs.BoolVar(&o.daemonRun, "daemonrun", true, "also run the released daemon binary (EVENTS=false) over the same world and read the memory targets from it (false: the memory targets are not checked)")
	fs.BoolVar(&o.events, "events", true, "also run the event phase (issue 9): a second updater with EVENTS on; latency, noise CPU, sockets")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of the measured passes here (skews the figures)")
	var d daemonOptions
	daemon := fs.Bool("daemon", false, "measure the released daemon binary instead (issue 10): its size, and its idle RSS after the first pass in the basic world (-envs 1 -registries 3 unless given)")
	fs.StringVar(&d.binary, "binary", "", "with -daemon: the ecr-updater binary to measure (default: build it static and stripped)")
	fs.StringVar(&d.tags, "tags", releaseTags, "with -daemon: the build tags of the binary it builds")
	fs.BoolVar(&d.deps, "deps", false, "with -daemon: also attribute the binary's bytes and the daemon's resident pages to the dependencies")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *daemon {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["envs"] {
			o.Envs = 1
		}
		if !set["registries"] {
			o.Registries = 3
		}
		if !set["pause"] {
			o.pause = time.Second
		}
		d.pause = o.pause
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		rep, err := daemonBench(ctx, d, o.size)
		return finish(rep, err, stdout, stderr)
	}
	if d.binary != "" || d.deps || d.tags != releaseTags {
		fmt.Fprintln(stderr, "bench: -binary, -tags and -deps go with -daemon")
		return 2
	}
	if o.memProfile != "" && !strings.Contains(os.Getenv("GODEBUG"), "memprofilerate") {
		runtime.MemProfileRate = 4096 // a finer heap profile (GODEBUG=memprofilerate=1 covers package init too)
	}
	if fs.NArg() > 0 || o.Envs < 1 || o.Registries < 2 || o.concurrency < 1 || o.passes < 2 {
		fmt.Fprintln(stderr, "bench: bad arguments (need -envs >= 1, -registries >= 2, -concurrency >= 1, -passes >= 2, no positional arguments)")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	rep, err := bench(ctx, o, args)
	return finish(rep, err, stdout, stderr)
}

// finish prints what a benchmark measured (as far as it got) and returns the exit status: 1 when it failed or
// missed a target.
func finish[R interface {
	*report | *daemonReport
	print(io.Writer)
	ok() bool
}](rep R, err error, stdout, stderr io.Writer) int {
	if rep != nil {
		rep.print(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if !rep.ok() {
		return 1
	}
	return 0
}

// passFigures are the measurements of one pass.
type passFigures struct {
	N    int
	Wall time.Duration
	Res  outcome // what the pass did; the Result itself is dropped, so that it does not count as idle memory
	// Counted by the stand-ins (in the world process), reported by the updater, and the minimum.
	Rancher, ECR           int
	ResRancher             int64
	ResECR                 int
	WantRancher, WantECR   int
	Verify                 worldAck
	PeakKiB                int64 // the peak RSS since the process started: VmHWM, else getrusage ru_maxrss
	EndKiB                 int64 // VmRSS at the end of the pass, before any GC: what a daemon keeps without FreeOSMemory
	IdleKiB, IdleAnonKiB   int64 // VmRSS and RssAnon after the pass, a GC, a pause and FreeOSMemory
	IdleFileKiB            int64
	Alloc                  uint64 // bytes the Go heap allocated during the pass
	GCs                    uint32
	IdleHeap, IdleGoSys    uint64        // Go heap in use, and memory the Go runtime holds from the OS, when idle
	CPU, WorldCPU          time.Duration // CPU time (user + system) of the bench and of the world during the pass
	WorldRSSKiB, WorldHWMK int64
}

// runFigures are the passes of one updater instance.
type runFigures struct {
	Name        string
	Concurrency int
	Passes      []*passFigures
}

type report struct {
	o          options
	command    string
	info       worldInfo
	startKiB   int64 // VmRSS before the updater was built
	startAnon  int64
	measured   *runFigures
	baseline   *runFigures
	discovery  *runFigures // DISCOVER_REGISTRIES on
	daemon     *daemonRun  // the daemon binary: the memory targets
	events     *eventFigures
	peak       int64  // the peak RSS of the process up to the end of the measured run, in KiB
	peakSource string // how peak was read
	rusagePeak int64  // getrusage(RUSAGE_SELF).ru_maxrss then
	hwm        int64  // VmHWM then
	maxSeen    int64  // the highest peak read so far
	checks     []check
}

type check struct {
	what, got string
	target    bool // a performance target, rather than a count
	ok        bool
}

func (r *report) ok() bool {
	for _, c := range r.checks {
		if !c.ok {
			return false
		}
	}
	return len(r.checks) > 0
}

// minimum is the least number of Rancher requests a pass can make: one projects list per pass (multi-environment
// mode), per environment a registries list and a credentials list (one page each: the updater asks for limit
// 1000) and one write per ECR credential; the first pass also connects: one probe of the base URL, the
// account-level schemas, and the schemas of each environment.
func minimum(sz size, first bool) int {
	n := 1 + sz.Envs*(2+sz.ecrPerEnv())
	if first {
		n += 2 + sz.Envs
	}
	return n
}

func bench(ctx context.Context, o options, args []string) (*report, error) {
	rep := &report{o: o, command: commandLine(args)}
	if st, err := procStatus(); err == nil {
		rep.startKiB, rep.startAnon = st["VmRSS"], st["RssAnon"]
	}
	w, err := startWorld(ctx, o.size)
	if err != nil {
		return nil, err
	}
	defer w.close()
	rep.info = w.info

	rep.measured, err = runPasses(ctx, w, o, "measured", o.concurrency, rep, true)
	// Linux folds into ru_maxrss the peak RSS of the address space that execve replaced: when a Go program (go run,
	// make's go run) spawns the bench, that is the parent's, so ru_maxrss can be the go command's peak. VmHWM is
	// the peak of the bench's own address space; it is the figure checked when there is one.
	rep.rusagePeak = maxRSS()
	rep.peak, rep.peakSource = rep.rusagePeak, "getrusage ru_maxrss"
	if st, err := procStatus(); err == nil && st["VmHWM"] > 0 {
		rep.hwm = st["VmHWM"]
		rep.peak, rep.peakSource = max(rep.hwm, rep.maxSeen), "VmHWM"
	}
	if err != nil {
		return rep, err
	}
	if o.baseline {
		rep.baseline, err = runPasses(ctx, w, o, "baseline", 1, rep, false)
		if err != nil {
			return rep, err
		}
	}
	if o.discover {
		rep.discovery, err = runPasses(ctx, w, o, "discovery", o.concurrency, rep, false)
		if err != nil {
			return rep, err
		}
	}
	if o.daemonRun {
		var slowest time.Duration
		for _, p := range rep.measured.Passes {
			slowest = max(slowest, p.Wall)
		}
		rep.daemon, err = runDaemon(ctx, w, o, slowest)
		if err != nil {
			return rep, fmt.Errorf("daemon run: %w", err)
		}
	}
	if o.events {
		// After the passes, so that their figures (requests, memory) are those of the updater without streams.
		rep.events, err = eventPhase(ctx, w, o)
		if err != nil {
			return rep, fmt.Errorf("event phase: %w", err)
		}
	}
	rep.evaluate()
	return rep, nil
}

// config is the updater's configuration, as the daemon builds it: rules, an account key for every environment,
// static AWS keys, a scrubbing text logger at info level (to io.Discard), metrics and a scrubber.
func config(info worldInfo, concurrency int) updater.Config {
	scrubber := redact.NewScrubber()
	scrubber.Add(redact.Secret(info.SecretKey), redact.Secret(info.AWSSecret))
	log := logrus.New()
	log.Out = io.Discard
	log.SetLevel(logrus.InfoLevel)
	log.SetFormatter(&redact.Formatter{Inner: &logrus.TextFormatter{FullTimestamp: true, TimestampFormat: time.RFC3339, DisableColors: true}, Scrubber: scrubber})
	return updater.Config{
		Rules:        updater.Rules{HomeRegion: homeRegion},
		Environments: []string{"all"},
		Concurrency:  concurrency,
		Rancher:      rancher.Options{Endpoint: rancher.Endpoint{Origin: info.RancherURL}, AccessKey: info.AccessKey, SecretKey: redact.Secret(info.SecretKey)},
		ECR: ecr.Config{HomeRegion: homeRegion, Endpoint: info.ECRURL, Timeout: 10 * time.Second,
			Credentials: credentials.NewStaticCredentialsProvider(info.AWSKeyID, info.AWSSecret, "")},
		Log:      log,
		Metrics:  updater.NewMetrics(promtext.NewRegistry(), "bench", "bench"),
		Scrubber: scrubber,
	}
}

// runPasses builds one updater and runs o.passes passes with it, measuring each; profile writes the profiles
// the options ask for.
func runPasses(ctx context.Context, w *worldProc, o options, name string, concurrency int, rep *report, profile bool) (*runFigures, error) {
	rf := &runFigures{Name: name, Concurrency: concurrency}
	cfg := config(w.info, concurrency)
	discover := name == "discovery"
	cfg.Rules.Discover = discover
	u, err := updater.New(ctx, cfg)
	if err != nil {
		return rf, err
	}
	defer u.Close()
	if profile && o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return rf, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return rf, err
		}
		defer pprof.StopCPUProfile()
	}
	for n := 1; n <= o.passes; n++ {
		if _, err := w.ack(cmdReset); err != nil {
			return rf, err
		}
		c0, err := w.counts()
		if err != nil {
			return rf, err
		}
		p := &passFigures{N: n, WantRancher: minimum(o.size, n == 1), WantECR: o.regionsInUse()}
		if discover {
			p.WantRancher += o.Envs // one services list per environment (their images all have a registry: nothing to create)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)

		cpu0, start := cpuTime(), time.Now()
		res := u.Pass(ctx)
		p.Wall, p.CPU = time.Since(start), cpuTime()-cpu0
		p.Res = summarise(res) // res is dead from here: the Result is not reachable while the idle RSS is read

		runtime.ReadMemStats(&after)
		p.Alloc, p.GCs = after.TotalAlloc-before.TotalAlloc, after.NumGC-before.NumGC
		p.PeakKiB = maxRSS()
		if st, err := procStatus(); err == nil {
			p.PeakKiB, p.EndKiB = st["VmHWM"], st["VmRSS"]
		}
		// The kernel's RSS counters are approximate (per-CPU): keep the peak from going down between readings.
		rep.maxSeen = max(rep.maxSeen, p.PeakKiB)
		p.PeakKiB = rep.maxSeen
		p.ResRancher, p.ResECR = p.Res.rancherRequests, p.Res.ecrCalls
		c, err := w.counts()
		if err != nil {
			return rf, err
		}
		p.Rancher, p.ECR, p.WorldRSSKiB, p.WorldHWMK = c.Rancher, c.ECR, c.RSSKiB, c.HWMKiB
		p.WorldCPU = time.Duration(c.CPUNano - c0.CPUNano)
		if p.Verify, err = w.ack(cmdVerify); err != nil {
			return rf, err
		}
		rf.Passes = append(rf.Passes, p)
		if err := ctx.Err(); err != nil {
			return rf, err
		}

		// Idle: what the daemon holds between passes.
		runtime.GC()
		time.Sleep(o.pause)
		debug.FreeOSMemory()
		if st, err := procStatus(); err == nil {
			p.IdleKiB, p.IdleAnonKiB, p.IdleFileKiB = st["VmRSS"], st["RssAnon"], st["RssFile"]
		}
		var idle runtime.MemStats
		runtime.ReadMemStats(&idle)
		p.IdleHeap, p.IdleGoSys = idle.HeapInuse, idle.Sys-idle.HeapReleased
	}
	if profile && o.memProfile != "" {
		f, err := os.Create(o.memProfile)
		if err != nil {
			return rf, err
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			return rf, err
		}
	}
	return rf, nil
}

// evaluate turns the figures into checks.
func (r *report) evaluate() {
	add := func(target, ok bool, what, got string) {
		r.checks = append(r.checks, check{what: what, got: got, target: target, ok: ok})
	}
	runs := []*runFigures{r.measured}
	if r.baseline != nil {
		runs = append(runs, r.baseline)
	}
	if r.discovery != nil {
		runs = append(runs, r.discovery)
	}
	for _, rf := range runs {
		for _, p := range rf.Passes {
			label := fmt.Sprintf("pass %d", p.N)
			if rf != r.measured {
				label = rf.Name + " " + label
			}
			add(false, p.Rancher == p.WantRancher && int(p.ResRancher) == p.WantRancher,
				fmt.Sprintf("%s: Rancher requests = minimum %d", label, p.WantRancher),
				fmt.Sprintf("stand-in %d, Result %d", p.Rancher, p.ResRancher))
			add(false, p.ECR == p.WantECR && p.ResECR == p.WantECR,
				fmt.Sprintf("%s: ECR calls = minimum %d", label, p.WantECR),
				fmt.Sprintf("stand-in %d, Result %d", p.ECR, p.ResECR))
			res, want := p.Res, r.info.ECRCreds
			outcome := fmt.Sprintf("%d updated, %d failed, %d seen, %d in scope", res.updated, res.failed, res.seen, res.inScope)
			if res.firstErr != "" {
				outcome += "; first error: " + res.firstErr
			}
			add(false, res.ok && res.updated == want && res.created == 0 && res.seen == r.info.Envs*r.info.Registries && res.inScope == want,
				fmt.Sprintf("%s: %d ECR credentials updated", label, want), outcome)
			verified := fmt.Sprintf("%d credentials checked, other registries' untouched", p.Verify.Checked)
			if len(p.Verify.Problems) > 0 {
				verified = strings.Join(p.Verify.Problems, "; ")
			}
			add(false, p.Verify.OK, label+": Rancher stores the new passwords", verified)
		}
	}
	var walls []string
	wallOK := true
	for _, p := range r.measured.Passes {
		walls = append(walls, fmt.Sprintf("pass %d: %s", p.N, ms(p.Wall)))
		wallOK = wallOK && p.Wall < targetWall
	}
	add(true, wallOK, "target: wall time of a pass < "+targetWall.String(), strings.Join(walls, ", "))
	if r.daemon != nil {
		r.daemon.evaluate(r.o.size, r.info, add)
	}
	if r.events != nil {
		r.events.evaluate(add)
	}
}

// outcome is what the checks need of an updater.Result.
type outcome struct {
	ok                                      bool
	updated, created, failed, seen, inScope int
	rancherRequests                         int64
	ecrCalls                                int
	firstErr                                string
}

func summarise(res *updater.Result) outcome {
	o := outcome{ok: res.OK(), updated: res.Updated, created: res.Created, failed: res.Failures(), seen: res.Seen,
		inScope: res.InScope, rancherRequests: res.RancherRequests, ecrCalls: res.ECRCalls}
	if err := passError(res); err != nil {
		o.firstErr = err.Error()
	}
	return o
}

// passError is the first error of a pass, if any.
func passError(res *updater.Result) error {
	if res.Err != nil {
		return res.Err
	}
	for _, e := range res.Envs {
		if e.Err != nil {
			return e.Err
		}
		for _, f := range e.Plan.Failures {
			return fmt.Errorf("%s: %w", f.ServerAddress, f.Err)
		}
		for _, w := range e.Writes {
			if w.Err != nil {
				return w.Err
			}
		}
	}
	if len(res.TokenErrors) > 0 {
		return errors.New("token errors")
	}
	return nil
}

func commandLine(args []string) string {
	cmd := strings.Join(append([]string{"go run ./internal/bench"}, args...), " ")
	if cgo() == "static (CGO_ENABLED=0)" {
		cmd = "CGO_ENABLED=0 " + cmd
	}
	if os.Getenv("MAKELEVEL") != "" {
		return "make bench  (" + cmd + ")"
	}
	return cmd
}

// cgo says how the bench binary was built: the release binary is built with CGO_ENABLED=0.
func cgo() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "CGO_ENABLED" && s.Value == "0" {
				return "static (CGO_ENABLED=0)"
			}
		}
	}
	return "cgo enabled"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

// mb prints KiB as MB (10^6 bytes).
func mb(kib int64) string { return fmt.Sprintf("%.1f MB", float64(kib)*1024/1e6) }

func mbBytes(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

func (r *report) print(out io.Writer) {
	o, info := r.o, r.info
	ecrPer := o.ecrPerEnv()
	fmt.Fprintln(out, "ecr-updater benchmark (issues 5 and 9)")
	fmt.Fprintf(out, "command:  %s\n", r.command)
	fmt.Fprintf(out, "machine:  %s/%s, %d CPUs (GOMAXPROCS %d), %s, %s, %s\n", runtime.GOOS, runtime.GOARCH,
		runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel(), runtime.Version(), cgo())
	fmt.Fprintf(out, "world:    %d environments x %d registries: %d ECR (%s) + %d others (Docker Hub, quay.io, ...,\n",
		o.Envs, o.Registries, ecrPer, strings.Join(regions[:o.regionsInUse()], ", "), o.Registries-ecrPer)
	fmt.Fprintf(out, "          host:port), one active credential each; Rancher stand-in adds %s per request, keeps no records;\n", o.Latency)
	fmt.Fprintf(out, "          both stand-ins run in a separate process (pid %d, populated in %d ms)\n", info.PID, info.SetupMillis)
	fmt.Fprintf(out, "updater:  one instance, account API key (admin), RANCHER_ENVIRONMENTS=all, concurrency %d,\n", o.concurrency)
	fmt.Fprintf(out, "          info-level log to io.Discard, metrics, scrubber\n")
	fmt.Fprintf(out, "minimum:  first pass 3 + %d x (1 schemas + 2 lists + %d writes) = %d Rancher requests,\n", o.Envs, ecrPer, minimum(o.size, true))
	fmt.Fprintf(out, "          later passes 1 + %d x (2 lists + %d writes) = %d; ECR calls %d per pass\n\n", o.Envs, ecrPer, minimum(o.size, false), o.regionsInUse())

	if r.measured != nil {
		r.printRun(out, r.measured)
		fmt.Fprintln(out, "  the RSS rows are the bench's own process: the updater and the bench around it (its code, its figures, the")
		fmt.Fprintln(out, "  world's client); the memory targets are read from the daemon run below")
		if r.startKiB > 0 {
			fmt.Fprintf(out, "  RSS at start (runtime and libraries, before the updater): %s (anonymous %s)\n", mb(r.startKiB), mb(r.startAnon))
		}
		fmt.Fprintf(out, "  peak RSS of the bench: %s %s (%d KiB); getrusage ru_maxrss %s (%d KiB)", r.peakSource, mb(r.peak), r.peak, mb(r.rusagePeak), r.rusagePeak)
		if r.hwm > 0 && r.rusagePeak > r.hwm+1024 {
			fmt.Fprint(out, ",\n    which Linux carries over on execve from the parent (the go command under go run), not the bench's own")
		}
		fmt.Fprintln(out)
		if last := r.measured.Passes[len(r.measured.Passes)-1]; last.WorldRSSKiB > 0 {
			fmt.Fprintf(out, "  the stand-ins' own process: RSS %s, peak %s (kept out of the figures above)\n", mb(last.WorldRSSKiB), mb(last.WorldHWMK))
		}
		fmt.Fprintln(out)
	}
	if r.daemon != nil {
		r.daemon.print(out)
	}
	if r.discovery != nil {
		r.printRun(out, r.discovery)
		for i, p := range r.discovery.Passes {
			if i < len(r.measured.Passes) {
				fmt.Fprintf(out, "  DISCOVER_REGISTRIES, pass %d: %d Rancher requests, %d without (one services list more per environment)\n",
					p.N, p.Rancher, r.measured.Passes[i].Rancher)
			}
		}
		fmt.Fprintln(out)
	}
	if r.baseline != nil {
		r.printRun(out, r.baseline)
		for i, p := range r.baseline.Passes {
			if i < len(r.measured.Passes) {
				m := r.measured.Passes[i]
				fmt.Fprintf(out, "  speed-up of concurrency %d over 1, pass %d: %s / %s = %.1fx\n", r.measured.Concurrency, p.N,
					ms(p.Wall), ms(m.Wall), float64(p.Wall)/float64(m.Wall))
			}
		}
		fmt.Fprintln(out)
	}
	if r.events != nil {
		r.events.print(out)
	}
	if len(r.checks) == 0 {
		return
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tMEASURED\tRESULT")
	for _, c := range r.checks {
		verdict := "PASS"
		if !c.ok {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.what, c.got, verdict)
	}
	_ = tw.Flush()
	fmt.Fprintln(out)
	var failed []string
	for _, c := range r.checks {
		if !c.ok {
			failed = append(failed, c.what)
		}
	}
	if len(failed) == 0 {
		fmt.Fprintln(out, "PASS: every count is the minimum and every target is met")
	} else {
		fmt.Fprintf(out, "FAIL: %s\n", strings.Join(failed, "; "))
	}
}

func (r *report) printRun(out io.Writer, rf *runFigures) {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	row := func(name string, cell func(p *passFigures) string) {
		fmt.Fprintf(tw, "  %s", name)
		for _, p := range rf.Passes {
			fmt.Fprintf(tw, "\t%s", cell(p))
		}
		fmt.Fprintln(tw, "\t")
	}
	fmt.Fprintf(tw, "%s run, concurrency %d", rf.Name, rf.Concurrency)
	for _, p := range rf.Passes {
		kind := "steady state"
		if p.N == 1 {
			kind = "connects"
		}
		fmt.Fprintf(tw, "\tpass %d (%s)", p.N, kind)
	}
	fmt.Fprintln(tw, "\t")
	row("wall time", func(p *passFigures) string { return ms(p.Wall) })
	row("Rancher requests: stand-in / Result / min", func(p *passFigures) string {
		return fmt.Sprintf("%d / %d / %d", p.Rancher, p.ResRancher, p.WantRancher)
	})
	row("ECR calls: stand-in / Result / min", func(p *passFigures) string {
		return fmt.Sprintf("%d / %d / %d", p.ECR, p.ResECR, p.WantECR)
	})
	row("peak RSS since start (VmHWM)", func(p *passFigures) string { return mb(p.PeakKiB) })
	row("RSS at the end of the pass (no GC yet)", func(p *passFigures) string { return mb(p.EndKiB) })
	row("idle RSS (GC, pause, FreeOSMemory)", func(p *passFigures) string { return mb(p.IdleKiB) })
	row("  of which anonymous + file-backed", func(p *passFigures) string {
		return mb(p.IdleAnonKiB) + " + " + mb(p.IdleFileKiB)
	})
	row("  Go heap in use / held by the Go runtime", func(p *passFigures) string {
		return mbBytes(p.IdleHeap) + " / " + mbBytes(p.IdleGoSys)
	})
	row("Go heap allocated during the pass, GCs", func(p *passFigures) string {
		return fmt.Sprintf("%s, %d", mbBytes(p.Alloc), p.GCs)
	})
	row("CPU time: bench + stand-ins", func(p *passFigures) string { return ms(p.CPU) + " + " + ms(p.WorldCPU) })
	_ = tw.Flush()
}
