// Package updater runs the passes and knows when they are due. A pass (RunOnce) reads the environments due
// (registries and credentials, one ECR token per region in use), plans each with the rules of package plan,
// applies the plans with bounded concurrency, and returns a Result; record then updates the one memory the updater
// keeps between passes (what it wrote, what is due and why, the problems, the current token of each region), the
// health, the metrics and the log. Run is one loop: it waits for the next pass due, or for a change Rancher's event
// streams report, and runs it. A scheduled pass (every environment, new tokens) comes at start and then at the
// earlier of UPDATE_INTERVAL and half the shortest token lifetime; whatever a pass of any kind leaves failing is
// retried with jittered backoff that never waits past the expiry of the credentials in place; a change makes its
// environment due, debounced.
package updater

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/plan"
	"github.com/ecr-updater/ecr-updater/rancher"
)

// Rules are the rules of a plan (plan.Rules), as Config carries them.
type Rules = plan.Rules

// Config configures an Updater.
type Config struct {
	Rules  Rules
	DryRun bool
	// Environments are RANCHER_ENVIRONMENTS: environment ids or names, or "all". Empty: the environment of
	// CATTLE_URL or of the key.
	Environments []string
	// Concurrency bounds the Rancher requests in flight (RANCHER_CONCURRENCY); 0 means rancher.DefaultConcurrency.
	Concurrency int
	// Interval is UPDATE_INTERVAL; 0 means DefaultInterval.
	Interval time.Duration
	// Rancher says how to reach Rancher; its Observe is set by New.
	Rancher rancher.Options
	// ECR says how to reach ECR; its Observe is set by New.
	ECR ecr.Config
	Log logrus.FieldLogger
	// Metrics, when set, records passes, writes and requests.
	Metrics *Metrics
	// Scrubber, when set, learns every password and token as soon as it arrives.
	Scrubber *redact.Scrubber
	// Clock is the schedule's clock; nil means real time.
	Clock Clock
	// Grace is how long in-flight writes may finish once Run's context is done; 0 means 8 s.
	Grace time.Duration
	// Jitter returns a number in [0, 1) for backoff jitter; nil means math/rand.
	Jitter func() float64
	// OnPass, when set, is called with the result of every pass, once the memory, health, metrics and log have it
	// (and, in Run, before the event streams of newly read environments start).
	OnPass func(*Result)
	// Events follows each environment's event stream (EVENTS): a change Rancher reports makes its environment due.
	Events bool
	// Watch tunes the event streams; the zero value is right for Rancher.
	Watch rancher.WatchOptions
}

// Updater runs passes. Passes never overlap; Pass, RunOnce and Run must not be called concurrently.
type Updater struct {
	cfg    Config
	log    logrus.FieldLogger
	ecr    *ecr.Client
	clock  Clock
	sem    chan struct{}
	health *Health

	server *rancher.Server
	envsMu sync.Mutex // guards envs across the goroutines of a pass
	envs   map[string]*rancher.Env

	// mem is all the updater remembers between passes; only the goroutine that runs passes touches it.
	mem memory
	// sched decides when passes are due; Run sets it (Pass alone schedules nothing).
	sched *schedule
	// inbox collects what the event streams report and the echoes the updater's writes will cause.
	inbox   *inbox
	streams streams
	// serial numbers the tokens as they arrive (plan.TokenID).
	serial       atomic.Uint64
	sourceLogged bool            // the AWS credential source has been logged
	warnedShort  map[string]bool // regions whose short token lifetime has been warned about

	// taken counts the changes Run has taken from the inbox; asleep, when set (tests), is told each time Run waits:
	// until when, and how many changes it has taken by then.
	taken  uint64
	asleep func(until time.Time, taken uint64)
}

// DefaultInterval is the longest time between two scheduled passes when Config.Interval is zero: half the 12 hours
// of an ECR token.
const DefaultInterval = 6 * time.Hour

// New checks the configuration and prepares the clients; it makes no network call.
func New(ctx context.Context, cfg Config) (*Updater, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = rancher.DefaultConcurrency
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 8 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Log == nil {
		l := logrus.New()
		l.Out = nopWriter{}
		cfg.Log = l
	}
	if cfg.Rancher.Endpoint.Origin == "" {
		return nil, &setting.Error{ID: setting.URL, Err: errors.New("not set")}
	}
	cfg.Rancher.Concurrency = cfg.Concurrency
	cfg.Rancher.Observe = cfg.Metrics.observer("rancher")
	cfg.ECR.Observe = ecr.Observer(cfg.Metrics.observer("ecr"))
	if cfg.ECR.Now == nil {
		cfg.ECR.Now = cfg.Clock.Now
	}
	cfg.ECR.Scrubber = cfg.Scrubber
	if cfg.ECR.Log == nil {
		cfg.ECR.Log = cfg.Log // the AWS SDK's own lines, in the daemon's level and format
	}
	client, err := ecr.New(ctx, cfg.ECR)
	if err != nil {
		return nil, err
	}
	u := &Updater{
		cfg:         cfg,
		log:         cfg.Log,
		ecr:         client,
		clock:       cfg.Clock,
		sem:         make(chan struct{}, cfg.Concurrency),
		health:      NewHealth(cfg.Clock),
		envs:        map[string]*rancher.Env{},
		mem:         newMemory(),
		inbox:       newInbox(),
		warnedShort: map[string]bool{},
	}
	cfg.Metrics.watch(u.health)
	return u, nil
}

// Close releases the Rancher connections.
func (u *Updater) Close() {
	if u.server != nil {
		u.server.Close()
		u.server = nil
	}
}

// idle drops what only a pass needs: the connections to Rancher.
func (u *Updater) idle() {
	if u.server != nil {
		u.server.CloseIdleConnections()
	}
}

// Health is the updater's health state, for the HTTP endpoints.
func (u *Updater) Health() *Health { return u.health }

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
