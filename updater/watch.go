package updater

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ecr-updater/ecr-updater/rancher"
)

// States of an environment's event stream, as /healthz shows them.
const (
	StreamConnecting  = "connecting"
	StreamConnected   = "connected"
	StreamUnavailable = "unavailable" // the upgrade was refused (an older Rancher, a proxy without websockets)
	StreamLost        = "disconnected"
)

// streams are the event streams of the environments served: one websocket each, started after the pass that
// first read the environment and stopped when a scheduled pass no longer serves it. They only report changes
// (Changed): a change makes its environment due; the schedule never depends on them.
type streams struct {
	mu      sync.Mutex
	running map[string]*stream // by environment key
	wg      sync.WaitGroup
	// watch follows one environment's stream: the rancher.Server's Watch; tests put an in-memory one in its place.
	watch func(ctx context.Context, envKey string, o rancher.WatchOptions, h func(rancher.Event)) error
}

type stream struct {
	cancel   context.CancelFunc
	label    string // the environment's id (and name), for logs and health
	connects int
}

// watchStreams starts a stream for every environment served whose last read succeeded (by the scheduled pass or a
// retry) and stops the streams of the environments no longer served (a failed read leaves a running stream alone).
func (u *Updater) watchStreams(ctx context.Context) {
	if !u.cfg.Events || u.server == nil {
		return
	}
	served, readable := map[string]bool{}, map[string]*EnvResult{}
	for _, t := range u.mem.targets {
		if t.SkipReason == "" {
			served[t.key] = true
			if u.mem.readable(t.key) {
				readable[t.key] = t
			}
		}
	}
	st := &u.streams
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.running == nil {
		st.running = map[string]*stream{}
	}
	if st.watch == nil {
		st.watch = u.server.Watch
	}
	for key, s := range st.running {
		if !served[key] {
			s.cancel()
			delete(st.running, key)
			u.health.setStream(s.label, "")
		}
	}
	for key, t := range readable {
		if st.running[key] != nil {
			continue
		}
		sctx, cancel := context.WithCancel(ctx)
		s := &stream{cancel: cancel, label: t.label()}
		st.running[key] = s
		u.health.setStream(s.label, StreamConnecting)
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			opts := u.cfg.Watch
			opts.Services = u.cfg.Rules.Discover
			opts.Frame = func(name, resourceType string) { u.cfg.Metrics.eventReceived(name, resourceType) }
			if err := st.watch(sctx, key, opts, func(ev rancher.Event) { u.onEvent(sctx, key, s, ev) }); err != nil {
				u.log.WithField("env", s.label).Warn("event stream not started: " + err.Error() + "; changes are picked up by the schedule")
				u.health.setStream(s.label, StreamUnavailable)
			}
		}()
	}
}

// stopStreams closes every stream and waits for them.
func (u *Updater) stopStreams() {
	st := &u.streams
	st.mu.Lock()
	for key, s := range st.running {
		s.cancel()
		delete(st.running, key)
	}
	st.mu.Unlock()
	st.wg.Wait()
}

// onEvent turns what a stream reports into changes, logs and metrics. A stream that connects (again) makes its
// environment due, so that changes made while it was away are caught.
func (u *Updater) onEvent(ctx context.Context, key string, s *stream, ev rancher.Event) {
	log := u.log.WithField("env", s.label)
	switch ev.Kind {
	case rancher.Connected:
		s.connects++
		u.health.setStream(s.label, StreamConnected)
		if s.connects == 1 {
			log.Info("event stream connected: registry changes are picked up at once")
		} else {
			u.cfg.Metrics.reconnected()
			log.Debug("event stream connected again")
		}
		u.Changed(key, Change{Resync: true})
	case rancher.Overflow:
		u.Changed(key, Change{Lost: true})
	case rancher.Changed:
		switch ev.ResourceType {
		case rancher.TypeRegistry:
			u.Changed(key, Change{RegistryID: ev.ResourceID})
		case rancher.TypeRegistryCredential:
			u.Changed(key, Change{RegistryID: ev.RegistryID, CredentialID: ev.ResourceID})
		case rancher.TypeService:
			u.Changed(key, Change{ServiceID: ev.ResourceID, Images: ev.Images})
		}
	case rancher.Disconnected:
		if ctx.Err() != nil {
			return
		}
		u.health.setStream(s.label, StreamLost)
		why := "closed by Rancher"
		if ev.Err != nil {
			why = ev.Err.Error()
		}
		log.WithField("retry_in", ev.RetryIn.Round(time.Millisecond).String()).Debug("event stream lost: " + why)
	case rancher.Unavailable:
		u.health.setStream(s.label, StreamUnavailable)
		if ev.Attempt == 1 {
			log.WithFields(map[string]any{"status": ev.Status, "retry_in": ev.RetryIn.Round(time.Second).String()}).Warn(
				fmt.Sprintf("event stream unavailable (Rancher answered %d %s instead of a websocket): registry changes wait "+
					"for the schedule; trying again with backoff", ev.Status, http.StatusText(ev.Status)))
		}
	}
}
