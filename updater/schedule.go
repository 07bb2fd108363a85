package updater

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/ecr-updater/ecr-updater/internal/setting"
)

// Clock is the schedule's view of time.
type Clock interface {
	Now() time.Time
	// After sends the time on the channel once d has passed.
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// After implements Clock.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

const (
	// MinBackoff and MaxBackoff bound the wait before retrying what failed.
	MinBackoff = 5 * time.Second
	MaxBackoff = 2 * time.Minute
	// MinSpacing is the least time between the starts of two passes, whatever the token lifetime.
	MinSpacing = 5 * time.Second
	// ShortLifetime is the token lifetime below which a warning is logged: ECR issues 12-hour tokens.
	ShortLifetime = 10 * time.Minute
	// maxMargin bounds how long before the credentials expire a retry is forced.
	maxMargin = 5 * time.Minute
)

// schedule decides when the next pass is due and what it covers. It is pure apart from its own state and the
// jitter source.
type schedule struct {
	interval time.Duration
	// intervalName names the interval setting in the reason for a pass.
	intervalName string
	jitter       func() float64
	failures     int
	// fullDue is when the next scheduled pass (every credential) is due; zero: at once.
	fullDue time.Time
	// expiry is when the oldest credentials in place stop working (from the last pass that wrote them all),
	// and lifetime how long they were valid for.
	expiry   time.Time
	lifetime time.Duration
}

func newSchedule(interval time.Duration, jitter func() float64) *schedule {
	if jitter == nil {
		jitter = rand.Float64
	}
	return &schedule{interval: interval, intervalName: setting.Neutral().Interval, jitter: jitter}
}

// next returns how long to wait after a pass that ended at now, whether the next pass is a scheduled one (every
// credential) or a retry of what failed, and why.
//
// A scheduled pass that got as far as writing sets the next one at the earlier of the interval and half the
// shortest token lifetime after its start. Anything left failing (a problem, or a pass that failed whole) is
// retried with jittered exponential backoff, never later than a margin before the credentials in place expire;
// the retry is a scheduled pass when one is owed by then. No pass starts less than MinSpacing after the last.
func (s *schedule) next(now time.Time, res *Result) (time.Duration, bool, string) {
	if res.Full && res.Err == nil {
		period, why := s.interval, s.intervalName
		if life := res.ShortestLifetime(); life > 0 && life/2 < period {
			period, why = life/2, fmt.Sprintf("half the shortest token lifetime (%s)", life.Round(time.Second))
		}
		s.fullDue = res.Start.Add(period)
		if res.OK() {
			s.expiry, s.lifetime = res.EarliestExpiry(), res.ShortestLifetime()
		} else if s.expiry.IsZero() {
			// Nothing has been written in full yet: the tokens this pass did write are the best bound there is.
			s.expiry, s.lifetime = res.EarliestExpiry(), res.ShortestLifetime()
		}
		if len(res.Problems) == 0 {
			s.failures = 0
			return s.spaced(now, res, s.fullDue, true, why)
		}
	} else if res.Err == nil && len(res.Problems) == 0 {
		s.failures = 0
		return s.spaced(now, res, s.fullDue, true, s.intervalName)
	}

	s.failures++
	backoff := MinBackoff << min(s.failures-1, 16)
	if backoff > MaxBackoff || backoff <= 0 {
		backoff = MaxBackoff
	}
	// Equal jitter: somewhere in [backoff/2, backoff).
	backoff = backoff/2 + time.Duration(s.jitter()*float64(backoff/2))
	what := fmt.Sprintf("%d problems", len(res.Problems))
	if res.Err != nil {
		what = "a failed pass"
	}
	why := fmt.Sprintf("retry %d after %s", s.failures, what)
	if !s.expiry.IsZero() {
		deadline := s.expiry.Add(-s.margin())
		if left := deadline.Sub(now); left < backoff {
			backoff = max(left, time.Second)
			why += fmt.Sprintf(", before the credentials expire at %s", s.expiry.UTC().Format(time.RFC3339))
		}
	}
	at := now.Add(backoff)
	full := !s.fullDue.After(at)
	if full && res.Err == nil && s.fullDue.After(now) {
		at, why = s.fullDue, "the scheduled pass is due before the retry"
	}
	return s.spaced(now, res, at, full, why)
}

// spaced keeps at least MinSpacing between the start of the last pass and the next.
func (s *schedule) spaced(now time.Time, res *Result, at time.Time, full bool, why string) (time.Duration, bool, string) {
	if floor := res.Start.Add(MinSpacing); at.Before(floor) {
		at = floor
		why += fmt.Sprintf(" (passes start at least %s apart)", MinSpacing)
	}
	return max(at.Sub(now), 0), full, why
}

// margin is how long before expiry a retry must come: a tenth of the token lifetime, from 1 s to 5 min.
func (s *schedule) margin() time.Duration {
	return min(max(s.lifetime/10, time.Second), maxMargin)
}

// Run runs a scheduled pass at once and then passes as the schedule says, until ctx is done; then it stops
// starting new work, gives in-flight writes Config.Grace to finish, and returns nil. A failing pass never ends
// it; only a *ConfigError (a configuration that no retry can fix) does. A small pass (a change Rancher reported)
// that fails is retried like any other pass: the schedule's backoff applies, and the retry comes no later than
// the pass already due.
func (u *Updater) Run(ctx context.Context) error {
	s := newSchedule(u.cfg.Interval, u.cfg.Jitter)
	s.intervalName = u.cfg.Names.Interval
	full := true
	defer u.stopStreams()
	for {
		// The scope of a retry is taken when it starts: a small pass may have found a problem since.
		sc := scope{full: true}
		if !full {
			sc = u.retryScope()
		}
		res := u.runPass(ctx, sc)
		var cfgErr *ConfigError
		if errors.As(res.Err, &cfgErr) {
			return cfgErr
		}
		if ctx.Err() != nil {
			u.log.Info("stopped: the pass in flight has ended")
			return nil
		}
		if res.Err == nil {
			u.watchStreams(ctx)
		}
		now := u.clock.Now()
		delay, f, why := s.next(now, res)
		full = f
		next := now.Add(delay)
		u.passRecorded(res, next, full, delay, why)
		for {
			failed, ok := u.smallPasses(ctx, u.clock.After(delay), next)
			if !ok {
				u.log.Info("stopped")
				return nil
			}
			if failed == nil {
				break // the timer fired: the pass that is due now
			}
			// A small pass left something failing: retry it as the schedule retries any failed pass, unless the
			// pass already due comes sooner.
			now = u.clock.Now()
			d, f, why := s.next(now, failed)
			if at := now.Add(d); at.Before(next) {
				next, full = at, f
			} else {
				why = "the pass already due comes before the retry of a failed small pass"
			}
			delay = next.Sub(now)
			u.passRecorded(failed, next, full, delay, why)
		}
	}
}

// passRecorded is what follows every pass: its outcome to the health state and metrics, the next pass logged,
// and the pass's garbage handed back to the system (the daemon idles for hours between passes, so the runtime's
// scavenger would keep it resident long after).
func (u *Updater) passRecorded(res *Result, next time.Time, full bool, delay time.Duration, why string) {
	u.health.passDone(res.Start.Add(res.Duration), res.Status, res.Problems, u.cfg.Scrubber.Scrub(res.firstError()), next)
	u.idle()
	debug.FreeOSMemory()
	kind := PassScheduled
	if !full {
		kind = PassRetry
	}
	u.log.WithFields(map[string]any{
		"next_pass": next.UTC().Format(time.RFC3339),
		"in":        delay.Round(time.Millisecond).String(),
		"kind":      kind,
		"reason":    why,
	}).Info("next pass scheduled")
}

// runPass runs one pass that starts no new work once ctx is done and cancels what is still in flight Grace
// later.
func (u *Updater) runPass(ctx context.Context, sc scope) *Result {
	inflight, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel() // also ends the watcher below
	stop := context.AfterFunc(ctx, func() {
		select {
		case <-inflight.Done():
		case <-time.After(u.cfg.Grace):
			u.log.WithField("grace", u.cfg.Grace.String()).Warn("stopping: in-flight requests did not finish in time; cancelled")
			cancel()
		}
	})
	defer stop()
	return u.pass(ctx, inflight, sc)
}
