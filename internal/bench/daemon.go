package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The daemon run (-daemon): the real ecr-updater binary, built the way it is released (static, stripped), runs
// `ecr-updater run` against the world process in the basic world of issue 10 (one environment, three
// registries). After its first pass (which ends with a GC and FreeOSMemory: the daemon's own idle step) and a
// pause, the bench reads the daemon's /proc/<pid>/status, then scrapes /metrics once and reads it again. With
// -deps it also attributes the binary's bytes and the daemon's resident pages to the modules that put them there
// (deps.go).

// The targets of issue 10 ("Leaner"), MB = 10^6 bytes.
const (
	targetBinary     = 15_000_000
	targetDaemonIdle = 16_000_000
)

// releaseTags are the build tags of the released binary (Makefile TAGS): urfave_cli_no_template renders the help
// without text/template, whose reflect.Value.MethodByName makes the linker keep every exported method;
// nethttpomithttp2 leaves HTTP/2 out of net/http.
const releaseTags = "urfave_cli_no_template,nethttpomithttp2"

type daemonOptions struct {
	binary string // a binary to measure instead of building one
	tags   string // build tags when building it
	deps   bool
	pause  time.Duration
}

type daemonReport struct {
	binary      string
	binaryBytes int64
	built       string // how the binary was built, when the bench built it
	world       size
	pid         int
	passLine    string
	idle        map[string]int64 // /proc/<pid>/status after the first pass and the pause
	scraped     map[string]int64 // after one /metrics scrape
	metricsSize int
	runtimeEnv  []string // GOGC, GOMEMLIMIT, GODEBUG passed on to the daemon
	deps        *depsReport
}

// daemonBench builds (or takes) the daemon and measures it.
func daemonBench(ctx context.Context, o daemonOptions, sz size) (*daemonReport, error) {
	rep := &daemonReport{world: sz, binary: o.binary}
	dir, err := os.MkdirTemp("", "ecr-updater-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var symbolic string // an unstripped build with the same layout, for -deps
	if rep.binary == "" {
		rep.binary = filepath.Join(dir, "ecr-updater")
		rep.built = fmt.Sprintf("CGO_ENABLED=0 go build -trimpath -tags '%s' -ldflags '-s -w'", o.tags)
		if err := goBuild(ctx, rep.binary, o.tags, "-s -w"); err != nil {
			return nil, err
		}
	}
	if o.deps {
		if o.binary != "" {
			return nil, errors.New("-deps builds the binary itself: leave -binary out")
		}
		symbolic = filepath.Join(dir, "ecr-updater.symbols")
		if err := goBuild(ctx, symbolic, o.tags, ""); err != nil {
			return nil, err
		}
	}
	st, err := os.Stat(rep.binary)
	if err != nil {
		return nil, err
	}
	rep.binaryBytes = st.Size()

	w, err := startWorld(ctx, sz)
	if err != nil {
		return nil, err
	}
	defer w.close()

	d, err := startDaemon(ctx, rep.binary, dir, w.info)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	rep.pid, rep.runtimeEnv = d.pid, d.runtimeEnv
	if rep.passLine, err = d.nextPass(); err != nil {
		return rep, err
	}
	port := d.port

	time.Sleep(o.pause)
	pid := strconv.Itoa(rep.pid)
	if rep.idle, err = procStatusOf(pid); err != nil {
		return rep, err
	}
	if o.deps {
		if rep.deps, err = attribute(ctx, symbolic, rep.binary, rep.pid); err != nil {
			return rep, err
		}
	}
	body, err := scrape(ctx, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return rep, err
	}
	rep.metricsSize = len(body)
	time.Sleep(o.pause)
	if rep.scraped, err = procStatusOf(pid); err != nil {
		return rep, err
	}
	return rep, nil
}

// daemonProc is the daemon binary running `ecr-updater run` against the world process.
type daemonProc struct {
	cmd        *exec.Cmd
	pid, port  int
	runtimeEnv []string    // GOGC, GOMEMLIMIT, GODEBUG passed on to it
	lines      chan string // its log lines (stdout and stderr), closed when it ends
	seen       []string    // the last lines read, for an error message
}

// startDaemon starts binary with the world's settings (an account key, RANCHER_ENVIRONMENTS=all, static AWS keys,
// the default LOG_LEVEL and LOG_FORMAT) and env added (EVENTS=false, UPDATE_INTERVAL=...); home is its HOME.
func startDaemon(ctx context.Context, binary, home string, info worldInfo, env ...string) (*daemonProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d := &daemonProc{port: port, lines: make(chan string, 64)}
	d.cmd = exec.CommandContext(ctx, binary, "run")
	d.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"CATTLE_URL=" + info.RancherURL, "CATTLE_ACCESS_KEY=" + info.AccessKey, "CATTLE_SECRET_KEY=" + info.SecretKey,
		"RANCHER_ENVIRONMENTS=all", "AWS_ACCESS_KEY_ID=" + info.AWSKeyID, "AWS_SECRET_ACCESS_KEY=" + info.AWSSecret,
		"AWS_REGION=" + homeRegion, "AWS_ENDPOINT_URL_ECR=" + info.ECRURL, "AWS_EC2_METADATA_DISABLED=true",
		"LISTEN_PORT=" + strconv.Itoa(port), "UPDATE_INTERVAL=6h"}, env...)
	for _, k := range []string{"GOGC", "GOMEMLIMIT", "GODEBUG"} { // runtime settings to try, passed on
		if v, ok := os.LookupEnv(k); ok {
			d.cmd.Env = append(d.cmd.Env, k+"="+v)
			d.runtimeEnv = append(d.runtimeEnv, k+"="+v)
		}
	}
	d.cmd.WaitDelay = 5 * time.Second
	logs, err := d.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	d.cmd.Stderr = d.cmd.Stdout
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the daemon: %w", err)
	}
	d.pid = d.cmd.Process.Pid
	go func() {
		defer close(d.lines)
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, logs)
	}()
	return d, nil
}

// nextPass reads the daemon's log up to the end of its next pass and its idle step (the GC and FreeOSMemory it
// does before it logs "next pass scheduled"), and returns the pass's line; an error when the pass failed or the
// daemon ended.
func (d *daemonProc) nextPass() (string, error) {
	var pass string
	for line := range d.lines {
		if len(d.seen) == 40 {
			d.seen = d.seen[1:]
		}
		d.seen = append(d.seen, line)
		if strings.Contains(line, "msg=\"pass ") {
			pass = line
		}
		if strings.Contains(line, "next pass scheduled") {
			if !strings.Contains(pass, `msg="pass done"`) {
				return pass, fmt.Errorf("the daemon's pass failed: %s", pass)
			}
			return pass, nil
		}
	}
	return pass, fmt.Errorf("the daemon ended before its pass was done; its last lines:\n%s", strings.Join(d.seen, "\n"))
}

// busy reports whether the daemon has logged a line not yet read: after nextPass, that it is in a pass again.
func (d *daemonProc) busy() bool { return len(d.lines) > 0 }

// stop ends the daemon with SIGINT and waits for it.
func (d *daemonProc) stop() {
	_ = d.cmd.Process.Signal(os.Interrupt)
	go func() {
		for range d.lines { // let it log its way out
		}
	}()
	_ = d.cmd.Wait()
}

// goBuild builds the daemon (the module's main package) static, with tags and ldflags.
func goBuild(ctx context.Context, out, tags, ldflags string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("find the module: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", tags, "-ldflags", ldflags, "-o", out, ".")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the daemon: %w\n%s", err, b)
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func scrape(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape /metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("scrape /metrics: %s", resp.Status)
	}
	return b, err
}

func (r *daemonReport) ok() bool {
	return r.binaryBytes <= targetBinary && r.idle["VmRSS"] > 0 && r.idle["VmRSS"]*1024 <= targetDaemonIdle
}

func (r *daemonReport) print(out io.Writer) {
	fmt.Fprintln(out, "ecr-updater daemon, idle (issue 10)")
	fmt.Fprintf(out, "binary:   %s, %d bytes (%s)", r.binary, r.binaryBytes, mbBytes(uint64(r.binaryBytes)))
	if r.built != "" {
		fmt.Fprintf(out, ", built with %s", r.built)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "world:    %d environment(s) x %d registries (%d ECR), account key, RANCHER_ENVIRONMENTS=all; stand-ins in pid %d\n",
		r.world.Envs, r.world.Registries, r.world.ecrPerEnv(), r.pid)
	if len(r.runtimeEnv) > 0 {
		fmt.Fprintf(out, "runtime:  %s\n", strings.Join(r.runtimeEnv, " "))
	}
	if r.passLine != "" {
		fmt.Fprintf(out, "pass 1:   %s\n", r.passLine)
	}
	row := func(what string, st map[string]int64) {
		if st != nil {
			fmt.Fprintf(out, "%-42s VmRSS %s = anonymous %s + file-backed %s (VmHWM %s)\n", what, mb(st["VmRSS"]),
				mb(st["RssAnon"]), mb(st["RssFile"]), mb(st["VmHWM"]))
		}
	}
	row("idle after pass 1 (GC, FreeOSMemory, pause):", r.idle)
	row(fmt.Sprintf("after one /metrics scrape (%d bytes):", r.metricsSize), r.scraped)
	if r.deps != nil {
		fmt.Fprintln(out)
		r.deps.print(out)
	}
	fmt.Fprintln(out)
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	fmt.Fprintf(out, "target: stripped binary <= 15 MB: %s  %s\n", mbBytes(uint64(r.binaryBytes)), verdict(r.binaryBytes <= targetBinary))
	fmt.Fprintf(out, "target: idle RSS <= 16 MB:        %s  %s\n", mb(r.idle["VmRSS"]), verdict(r.idle["VmRSS"] > 0 && r.idle["VmRSS"]*1024 <= targetDaemonIdle))
}
