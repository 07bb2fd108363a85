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

// schedule decides when the next scheduled pass is due, and when what fails is retried. It is pure apart from its
// own state and the jitter source.
type schedule struct {
	interval time.Duration
	jitter   func() float64
	failures int
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
	return &schedule{interval: interval, jitter: jitter}
}

// next returns how long to wait after a pass that ended at now, whether the next pass is a scheduled one (every
// credential) or a retry of what failed, and why. It is asked after every scheduled pass and retry, and after a
// pass for changes that left something failing when no retry was due yet.
//
// A scheduled pass that got as far as writing sets the next one at the earlier of the interval and half the
// shortest token lifetime after its start. Anything left failing (a problem, or a pass that failed whole) is
// retried with jittered exponential backoff, never later than a margin before the credentials in place expire;
// the retry is a scheduled pass when one is owed by then. No pass starts less than MinSpacing after the last.
func (s *schedule) next(now time.Time, res *Result) (time.Duration, bool, string) {
	if res.Kind == PassScheduled && res.Err == nil {
		period, why := s.interval, setting.Interval.String()
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
		return s.spaced(now, res, s.fullDue, true, setting.Interval.String())
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

// Run runs a scheduled pass at once and then the passes that come due, until ctx is done: one loop that waits for
// the next pass due or for a change the event streams report, takes what is due and runs it (RunOnce), and records
// it. Once ctx is done it starts no new work, gives in-flight writes Config.Grace to finish, and returns nil. A
// failing pass of any kind never ends it: what it leaves failing is retried with the schedule's backoff. Only a
// *setting.Error (a configuration that no retry can fix) does.
func (u *Updater) Run(ctx context.Context) error {
	u.sched = newSchedule(u.cfg.Interval, u.cfg.Jitter)
	defer u.stopStreams()
	for {
		due, ok := u.due()
		if !ok {
			if !u.sleep(ctx) {
				u.log.Info("stopped")
				return nil
			}
			continue
		}
		res := u.runPass(ctx, due)
		var cfgErr *setting.Error
		if errors.As(res.Err, &cfgErr) {
			return cfgErr
		}
		if ctx.Err() != nil {
			u.log.Info("stopped: the pass in flight has ended")
			return nil
		}
		u.record(res)
		if res.Err == nil {
			u.watchStreams(ctx)
		}
		// The daemon idles for hours between passes: the pass's garbage goes back to the system now rather than
		// stay resident until the runtime's scavenger gets to it.
		u.idle()
		debug.FreeOSMemory()
	}
}

// due takes the changes the streams reported into the memory, then what is due now off the memory.
func (u *Updater) due() (Due, bool) {
	changes, received := u.inbox.take()
	u.taken = received
	for key, c := range changes {
		u.mem.forget(key, c.forget, c.all)
		u.mem.changed(key, c.first)
	}
	return u.mem.take(u.clock.Now())
}

// sleep waits until the next pass is due or a change is reported; false when ctx is done.
func (u *Updater) sleep(ctx context.Context) bool {
	until := u.mem.next()
	if u.asleep != nil {
		u.asleep(until, u.taken)
	}
	timer := u.clock.After(until.Sub(u.clock.Now()))
	select {
	case <-ctx.Done():
		return false
	case <-timer:
	case <-u.inbox.wake:
	}
	return true
}

// runPass runs one pass that starts no new work once ctx is done and cancels what is still in flight Grace
// later.
func (u *Updater) runPass(ctx context.Context, due Due) *Result {
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
	return u.runOnce(ctx, inflight, due)
}

// reschedule asks the schedule, after a pass, when the next scheduled pass and the retry of what is failing are
// due: after a scheduled pass or a retry; after a pass for changes only when it left something failing and no
// retry is due yet (a retry due covers the environments with a problem, whatever pass found it). ok is false when
// the schedule was not asked (Run is not running, or nothing changed).
func (u *Updater) reschedule(res *Result) (delay time.Duration, why string, ok bool) {
	if u.sched == nil {
		return 0, "", false
	}
	d := &u.mem.due
	if res.Kind == PassEvent {
		if res.Err != nil {
			for key := range res.due.Envs {
				d.retryEnvs[key] = true
			}
		}
		if res.OK() || !d.retry.IsZero() {
			return 0, "", false
		}
	}
	now := u.clock.Now()
	delay, full, why := u.sched.next(now, res)
	if full {
		d.scheduled, d.retry = now.Add(delay), time.Time{}
	} else {
		d.scheduled, d.retry = u.sched.fullDue, now.Add(delay)
	}
	return delay, why, true
}

// nextDue is when the next scheduled pass or retry is due (what /healthz and the metrics show).
func (u *Updater) nextDue() time.Time {
	d := u.mem.due
	if !d.retry.IsZero() && d.retry.Before(d.scheduled) {
		return d.retry
	}
	return d.scheduled
}
