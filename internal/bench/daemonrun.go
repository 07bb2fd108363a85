package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The daemon run of `make bench` (issue 15): the memory targets of issue 5 (idle RSS between passes, peak RSS)
// are the daemon's, so they are read from the daemon itself: the released binary (built as `make build` builds it:
// static, stripped, the release tags) runs `ecr-updater run` with EVENTS=false over the same 50 x 40 world, in a
// process of its own, and the bench reads its /proc/<pid>/status after each pass (which the daemon ends with a GC
// and FreeOSMemory) and a pause. The updater inside the bench's own process (the measured run) shows the wall
// time and the requests of a pass; its RSS holds the bench as well (its code and its data), so it is printed for
// the record only.

// daemonRun is what the daemon run measured.
type daemonRun struct {
	binary      string
	binaryBytes int64
	built       string
	interval    time.Duration
	pid         int
	runtimeEnv  []string
	passes      []daemonPass
}

type daemonPass struct {
	N     int
	Line  string           // the daemon's "pass done" line
	Idle  map[string]int64 // /proc/<pid>/status after the pass, the daemon's idle step and the pause
	Stats passLine
}

// passLine is what a "pass done" line says.
type passLine struct {
	Duration                  time.Duration
	Updated, Failed, InScope  int
	RancherRequests, ECRCalls int
}

var passField = regexp.MustCompile(`\b(duration|updated|failed|in_scope|rancher_requests|ecr_calls)=(\S+)`)

func parsePassLine(line string) passLine {
	var p passLine
	for _, m := range passField.FindAllStringSubmatch(line, -1) {
		n, _ := strconv.Atoi(m[2])
		switch m[1] {
		case "duration":
			p.Duration, _ = time.ParseDuration(m[2])
		case "updated":
			p.Updated = n
		case "failed":
			p.Failed = n
		case "in_scope":
			p.InScope = n
		case "rancher_requests":
			p.RancherRequests = n
		case "ecr_calls":
			p.ECRCalls = n
		}
	}
	return p
}

// runDaemon builds the daemon and runs o.passes passes of it over the world, the next pass interval after the
// start of the last: long enough for a pass and the reading (slowest is the slowest pass the bench has seen).
func runDaemon(ctx context.Context, w *worldProc, o options, slowest time.Duration) (*daemonRun, error) {
	dir, err := os.MkdirTemp("", "ecr-updater-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := &daemonRun{binary: filepath.Join(dir, "ecr-updater"), interval: max(8*time.Second, 3*slowest+o.pause).Round(time.Second)}
	r.built = fmt.Sprintf("CGO_ENABLED=0 go build -trimpath -tags '%s' -ldflags '-s -w'", releaseTags)
	if err := goBuild(ctx, r.binary, releaseTags, "-s -w"); err != nil {
		return nil, err
	}
	st, err := os.Stat(r.binary)
	if err != nil {
		return nil, err
	}
	r.binaryBytes = st.Size()
	d, err := startDaemon(ctx, r.binary, dir, w.info, "EVENTS=false", "UPDATE_INTERVAL="+r.interval.String())
	if err != nil {
		return nil, err
	}
	defer d.stop()
	r.pid, r.runtimeEnv = d.pid, d.runtimeEnv
	for n := 1; n <= o.passes; n++ {
		line, err := d.nextPass()
		if err != nil {
			return r, fmt.Errorf("daemon pass %d: %w", n, err)
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(o.pause):
		}
		idle, err := procStatusOf(strconv.Itoa(d.pid))
		if err != nil {
			return r, err
		}
		if d.busy() {
			return r, fmt.Errorf("daemon pass %d: the next pass began before the idle memory was read (UPDATE_INTERVAL=%s is too short for this machine)", n, r.interval)
		}
		r.passes = append(r.passes, daemonPass{N: n, Line: line, Idle: idle, Stats: parsePassLine(line)})
	}
	return r, nil
}

// peak is the daemon's VmHWM at the last reading, in KiB.
func (r *daemonRun) peak() int64 {
	if len(r.passes) == 0 {
		return 0
	}
	return r.passes[len(r.passes)-1].Idle["VmHWM"]
}

func (r *daemonRun) print(out io.Writer) {
	fmt.Fprintf(out, "daemon run: the released binary, %s (%s), pid %d:\n", mbBytes(uint64(r.binaryBytes)), r.built, r.pid)
	fmt.Fprintf(out, "          `ecr-updater run` with EVENTS=false, UPDATE_INTERVAL=%s, over the same world; the memory targets are its\n", r.interval)
	if len(r.runtimeEnv) > 0 {
		fmt.Fprintf(out, "          runtime: %s\n", strings.Join(r.runtimeEnv, " "))
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	row := func(name string, cell func(p daemonPass) string) {
		fmt.Fprintf(tw, "  %s", name)
		for _, p := range r.passes {
			fmt.Fprintf(tw, "\t%s", cell(p))
		}
		fmt.Fprintln(tw, "\t")
	}
	row("", func(p daemonPass) string { return fmt.Sprintf("pass %d", p.N) })
	row("duration (its log), Rancher requests, ECR calls", func(p daemonPass) string {
		return fmt.Sprintf("%s, %d, %d", ms(p.Stats.Duration), p.Stats.RancherRequests, p.Stats.ECRCalls)
	})
	row("idle RSS (its GC and FreeOSMemory, a pause)", func(p daemonPass) string { return mb(p.Idle["VmRSS"]) })
	row("  of which anonymous + file-backed", func(p daemonPass) string {
		return mb(p.Idle["RssAnon"]) + " + " + mb(p.Idle["RssFile"])
	})
	row("peak RSS since start (VmHWM)", func(p daemonPass) string { return mb(p.Idle["VmHWM"]) })
	_ = tw.Flush()
	fmt.Fprintln(out)
}

// evaluate adds the daemon's checks: its passes did their work with the minimum of requests, and the memory
// targets.
func (r *daemonRun) evaluate(sz size, info worldInfo, add func(target, ok bool, what, got string)) {
	var idles []string
	idleOK := len(r.passes) > 0
	for _, p := range r.passes {
		st := p.Stats
		want := minimum(sz, p.N == 1)
		add(false, st.Updated == info.ECRCreds && st.Failed == 0 && st.InScope == info.ECRCreds && st.RancherRequests == want &&
			st.ECRCalls == sz.regionsInUse(),
			fmt.Sprintf("daemon pass %d: %d ECR credentials updated, %d Rancher requests, %d ECR calls", p.N, info.ECRCreds, want, sz.regionsInUse()),
			fmt.Sprintf("%d updated, %d failed, %d Rancher requests, %d ECR calls", st.Updated, st.Failed, st.RancherRequests, st.ECRCalls))
		idles = append(idles, fmt.Sprintf("after pass %d: %s", p.N, mb(p.Idle["VmRSS"])))
		idleOK = idleOK && p.Idle["VmRSS"] > 0 && p.Idle["VmRSS"]*1024 < targetIdle
	}
	add(true, r.peak() > 0 && r.peak()*1024 < targetPeak, "target: peak RSS < 40 MB (the daemon)", mb(r.peak())+" (VmHWM)")
	add(true, idleOK, "target: idle RSS between passes < 20 MB (the daemon)", strings.Join(idles, ", "))
}
