package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// The world process: the Rancher and ECR stand-ins, in a process of their own so that their memory is not counted
// as the updater's. The bench re-executes its own binary with roleEnv=world; the world starts and populates the
// stand-ins, writes a worldInfo as one JSON line on stdout, then answers one JSON line on stdout for each command
// line read on stdin, and exits when stdin closes (so it never outlives the bench).

const roleEnv = "ECR_UPDATER_BENCH_ROLE"

// Commands of the control protocol.
const (
	cmdCounts = "counts" // answer a worldCounts
	cmdReset  = "reset"  // forget the request and call counts and the tokens issued; answer a worldAck
	cmdVerify = "verify" // check what Rancher stores now; answer a worldAck
)

// regions are the ECR regions of the world's registries.
var regions = []string{"us-east-1", "eu-west-1", "ap-southeast-2"}

const (
	homeAccount = "123456789012"
	homeRegion  = "us-east-1"
	ecrUser     = "AWS"
)

// size is the shape of the world.
type size struct {
	Envs       int           // environments
	Registries int           // registries per environment; half of them (rounded down) are ECR
	Latency    time.Duration // added by the Rancher stand-in to every request
}

func (s size) ecrPerEnv() int { return s.Registries / 2 }

// regionsInUse is how many distinct regions the ECR registries use: the ECR calls of a pass.
func (s size) regionsInUse() int {
	if s.Envs == 0 {
		return 0
	}
	return min(s.ecrPerEnv(), len(regions))
}

func (s size) args() []string {
	return []string{fmt.Sprintf("-envs=%d", s.Envs), fmt.Sprintf("-registries=%d", s.Registries), "-latency=" + s.Latency.String()}
}

func (s *size) flags(fs *flag.FlagSet) {
	fs.IntVar(&s.Envs, "envs", 50, "environments")
	fs.IntVar(&s.Registries, "registries", 40, "registries per environment, half of them ECR (across 3 regions), each with one active credential")
	fs.DurationVar(&s.Latency, "latency", 5*time.Millisecond, "latency the Rancher stand-in adds to every request")
}

// worldInfo is the first line the world writes: how to reach it.
type worldInfo struct {
	RancherURL  string `json:"rancher_url"`
	ECRURL      string `json:"ecr_url"`
	AccessKey   string `json:"access_key"`
	SecretKey   string `json:"secret_key"`
	AWSKeyID    string `json:"aws_key_id"`
	AWSSecret   string `json:"aws_secret"`
	Envs        int    `json:"envs"`
	Registries  int    `json:"registries"`
	ECRCreds    int    `json:"ecr_credentials"`
	OtherCreds  int    `json:"other_credentials"`
	PID         int    `json:"pid"`
	SetupMillis int64  `json:"setup_ms"`
}

// worldCounts answers cmdCounts.
type worldCounts struct {
	Rancher int   `json:"rancher_requests"`
	ECR     int   `json:"ecr_calls"`
	RSSKiB  int64 `json:"rss_kib"` // the world process's own VmRSS, for the record
	HWMKiB  int64 `json:"hwm_kib"`
	CPUNano int64 `json:"cpu_ns"` // the world process's CPU time since it started
}

// worldAck answers cmdReset and cmdVerify.
type worldAck struct {
	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"`
	Checked  int      `json:"checked,omitempty"`
}

// world holds the stand-ins and what they were populated with.
type world struct {
	rancher  *ranchertest.Server
	ecr      *ecrtest.Server
	info     worldInfo
	ecrCred  map[string]string // credential id -> region of its ECR registry
	envs     []string          // environment ids, in order
	ecrByEnv [][]string        // per environment, its ECR credentials in order
	other    map[string]string // credential id -> its secret, which no pass may change
}

// otherRegistry is the serverAddress of the i-th non-ECR registry of an environment.
func otherRegistry(i int) string {
	fixed := []string{"index.docker.io", "quay.io", "ghcr.io", "registry.gitlab.com", "gcr.io"}
	if i < len(fixed) {
		return fixed[i]
	}
	return fmt.Sprintf("registry-%02d.corp.example:5000", i)
}

func newWorld(sz size) *world {
	start := time.Now()
	w := &world{
		// MaxRecords < 0: keep no request records (RequestCount still counts), so that the world's memory stays flat.
		rancher: ranchertest.New(ranchertest.Options{Latency: sz.Latency, MaxRecords: -1}),
		ecr:     ecrtest.New(ecrtest.Options{}),
		ecrCred: map[string]string{},
		other:   map[string]string{},
	}
	w.info = worldInfo{
		RancherURL: w.rancher.URL, ECRURL: w.ecr.URL,
		AccessKey: "BENCHACCESSKEY000001", SecretKey: "bench-rancher-secret-key-00000000000001",
		AWSKeyID: "AKIABENCH00000000001", AWSSecret: "bench-aws-secret-access-key-0000000001",
		Envs: sz.Envs, Registries: sz.Registries, PID: os.Getpid(),
	}
	w.ecr.AddKey(w.info.AWSKeyID, w.info.AWSSecret, homeAccount)
	w.rancher.AddAccountKey(w.info.AccessKey, w.info.SecretKey, true)
	for e := 0; e < sz.Envs; e++ {
		env := w.rancher.AddEnvironment(fmt.Sprintf("bench-%03d", e+1))
		w.envs = append(w.envs, env)
		w.ecrByEnv = append(w.ecrByEnv, nil)
		for i := 0; i < sz.ecrPerEnv(); i++ {
			// Distinct hosts: a new account for every three registries, the three regions in turn.
			region := regions[i%len(regions)]
			account := fmt.Sprintf("%012d", 123456789012+i/len(regions))
			reg := w.rancher.AddRegistry(env, account+".dkr.ecr."+region+".amazonaws.com", "active")
			id := w.rancher.AddCredential(env, reg, ecrUser, fmt.Sprintf("stale-ecr-password-%d-%d", e, i), "active")
			w.ecrCred[id] = region
			w.ecrByEnv[e] = append(w.ecrByEnv[e], id)
		}
		// Services: ECR images of registries the environment has, and a Docker Hub image, so that DISCOVER_REGISTRIES
		// reads them and has nothing to create.
		for i := 0; i < 5 && i < sz.ecrPerEnv(); i++ {
			account := fmt.Sprintf("%012d", 123456789012+i/len(regions))
			w.rancher.AddService(env, fmt.Sprintf("svc-%d", i), account+".dkr.ecr."+regions[i%len(regions)]+".amazonaws.com/app:1", "redis:7")
		}
		for i := 0; i < sz.Registries-sz.ecrPerEnv(); i++ {
			reg := w.rancher.AddRegistry(env, otherRegistry(i), "active")
			secret := fmt.Sprintf("other-registry-password-%d-%d", e, i)
			id := w.rancher.AddCredential(env, reg, fmt.Sprintf("robot-%d", i), secret, "active")
			w.other[id] = secret
		}
	}
	w.info.ECRCreds, w.info.OtherCreds = len(w.ecrCred), len(w.other)
	w.info.SetupMillis = time.Since(start).Milliseconds()
	return w
}

func (w *world) close() {
	w.rancher.Close()
	w.ecr.Close()
}

func (w *world) counts() worldCounts {
	c := worldCounts{Rancher: w.rancher.RequestCount(), ECR: w.ecr.Calls(), CPUNano: int64(cpuTime())}
	if st, err := procStatus(); err == nil {
		c.RSSKiB, c.HWMKiB = st["VmRSS"], st["VmHWM"]
	}
	return c
}

func (w *world) reset() worldAck {
	w.rancher.ResetRequests()
	w.ecr.ResetCalls()
	w.ecr.ResetIssued()
	return worldAck{OK: true}
}

// verify checks, since the last reset, that every ECR credential holds user AWS and the password of the newest
// token of its region, and that no other credential changed.
func (w *world) verify() worldAck {
	latest := map[string]string{}
	for _, is := range w.ecr.Issued() {
		latest[is.Region] = is.Password
	}
	var problems []string
	add := func(format string, a ...any) {
		if len(problems) < 5 {
			problems = append(problems, fmt.Sprintf(format, a...))
		}
	}
	checked := 0
	for _, c := range w.rancher.Credentials("") {
		checked++
		if region, ok := w.ecrCred[c.ID]; ok {
			switch {
			case latest[region] == "":
				add("no token was issued in %s (credential %s)", region, c.ID)
			case c.SecretValue != latest[region] || c.PublicValue != ecrUser:
				add("credential %s (%s) does not hold the newest %s password", c.ID, c.EnvID, region)
			}
			continue
		}
		if secret, ok := w.other[c.ID]; !ok || c.SecretValue != secret {
			add("credential %s (%s) of another registry was changed or created", c.ID, c.EnvID)
		}
	}
	if want := len(w.ecrCred) + len(w.other); checked != want {
		add("Rancher stores %d credentials, want %d", checked, want)
	}
	return worldAck{OK: len(problems) == 0, Problems: problems, Checked: checked}
}

// worldMain is the world process.
func worldMain(args []string) int {
	var sz size
	fs := flag.NewFlagSet("bench world", flag.ContinueOnError)
	sz.flags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	w := newWorld(sz)
	defer w.close()
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	reply := func(v any) bool {
		return enc.Encode(v) == nil && out.Flush() == nil
	}
	if !reply(w.info) {
		return 1
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var ok bool
		switch cmd := strings.TrimSpace(in.Text()); cmd {
		case cmdCounts:
			ok = reply(w.counts())
		case cmdReset:
			ok = reply(w.reset())
		case cmdVerify:
			ok = reply(w.verify())
		default:
			if v, known := w.command(cmd); known {
				ok = reply(v)
			} else {
				ok = reply(worldAck{Problems: []string{"unknown command " + cmd}})
			}
		}
		if !ok {
			return 1
		}
	}
	return 0 // stdin closed: the bench is done (or gone)
}

// worldProc is the bench's end of the world process.
type worldProc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	info worldInfo
}

// startWorld starts the world process (this binary again) and reads its worldInfo. Cancelling ctx kills it.
func startWorld(ctx context.Context, sz size) (*worldProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the bench binary: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, sz.args()...)
	cmd.Env = append(os.Environ(), roleEnv+"=world")
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the world process: %w", err)
	}
	w := &worldProc{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	w.out.Buffer(make([]byte, 64<<10), 1<<20)
	if err := w.read(&w.info); err != nil {
		w.close()
		return nil, fmt.Errorf("world process: %w", err)
	}
	return w, nil
}

func (w *worldProc) read(v any) error {
	if !w.out.Scan() {
		if err := w.out.Err(); err != nil {
			return err
		}
		return errors.New("the world process ended")
	}
	return json.Unmarshal(w.out.Bytes(), v)
}

// ask sends one command and decodes the answer into v.
func (w *worldProc) ask(cmd string, v any) error {
	if _, err := io.WriteString(w.in, cmd+"\n"); err != nil {
		return fmt.Errorf("world %s: %w", cmd, err)
	}
	if err := w.read(v); err != nil {
		return fmt.Errorf("world %s: %w", cmd, err)
	}
	return nil
}

func (w *worldProc) counts() (worldCounts, error) {
	var c worldCounts
	err := w.ask(cmdCounts, &c)
	return c, err
}

func (w *worldProc) ack(cmd string) (worldAck, error) {
	var a worldAck
	err := w.ask(cmd, &a)
	if err == nil && !a.OK && cmd != cmdVerify {
		err = fmt.Errorf("world %s: %s", cmd, strings.Join(a.Problems, "; "))
	}
	return a, err
}

// close ends the world process: closing its stdin makes it exit.
func (w *worldProc) close() {
	_ = w.in.Close()
	done := make(chan struct{})
	go func() {
		_ = w.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-done
	}
}
