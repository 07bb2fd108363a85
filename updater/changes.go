package updater

import (
	"context"
	"runtime/debug"
	"sync"
	"time"
)

// Change is what Rancher reported of one environment: a registry or a registry credential changed, or the
// report stream (re)connected and anything may have changed while it was away.
type Change struct {
	// RegistryID is the registry that changed, or the registry of the credential that changed.
	RegistryID string
	// CredentialID is the credential that changed; it is rewritten even when it was written this cycle.
	CredentialID string
	// Resync asks for the whole environment: every registry is read and planned, and what is not fresh written.
	Resync bool
	// ServiceID is a service that changed: its images may need a registry (DISCOVER_REGISTRIES).
	ServiceID string
}

const (
	// Debounce is how long a small pass waits after the first change, so that a burst is one pass.
	Debounce = 200 * time.Millisecond
	// minSmallGap is the least time between two small passes.
	minSmallGap = 500 * time.Millisecond
	// echoWindow is how long a change Rancher reports of a resource the updater itself wrote is taken for the
	// echo of that write and ignored. Rancher publishes changes once a second.
	echoWindow = 5 * time.Second
	// PassEvent is the kind of a small pass triggered by changes.
	PassEvent = "event"
)

// changes collects the changes reported between small passes. Changed is called from the goroutines that read
// Rancher's event streams and must never block them.
type changes struct {
	mu      sync.Mutex
	pending map[string]*envChange // by environment key
	echoes  map[string]time.Time  // resource id -> when the updater last wrote it
	window  time.Duration         // echoWindow
	wake    chan struct{}
}

type envChange struct {
	resync      bool
	registries  map[string]bool
	credentials map[string]bool
}

func newChanges() *changes {
	return &changes{pending: map[string]*envChange{}, echoes: map[string]time.Time{}, window: echoWindow, wake: make(chan struct{}, 1)}
}

// Changed reports a change of one environment (by its key: the id given in RANCHER_ENVIRONMENTS, or "" for the
// key's own environment). A change of a resource the updater wrote itself moments ago is its echo and is
// ignored, so that the updater's own writes never cause more writes. It never blocks.
func (u *Updater) Changed(envKey string, c Change) bool {
	ch := u.changes
	now := u.clock.Now()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !c.Resync {
		id := c.CredentialID
		if id == "" {
			id = c.RegistryID
		}
		if at, ok := ch.echoes[envKey+"/"+id]; ok && now.Sub(at) < ch.window {
			return false
		}
	}
	p := ch.pending[envKey]
	if p == nil {
		p = &envChange{registries: map[string]bool{}, credentials: map[string]bool{}}
		ch.pending[envKey] = p
	}
	switch {
	case c.Resync:
		p.resync = true
	case c.CredentialID != "":
		p.credentials[c.CredentialID] = true
		if c.RegistryID != "" {
			p.registries[c.RegistryID] = true
		}
	case c.RegistryID != "":
		p.registries[c.RegistryID] = true
	}
	select {
	case ch.wake <- struct{}{}:
	default:
	}
	return true
}

// wrote notes that the updater wrote (or tried to write) these resources of an environment just now.
func (ch *changes) wrote(envKey string, now time.Time, ids ...string) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for id, at := range ch.echoes {
		if now.Sub(at) >= ch.window {
			delete(ch.echoes, id)
		}
	}
	for _, id := range ids {
		if id != "" {
			ch.echoes[envKey+"/"+id] = now
		}
	}
}

// take returns the scope of a small pass over the changes reported so far and the credentials Rancher said
// changed (by environment key), and forgets them; ok is false when there are none.
func (ch *changes) take() (sc scope, changed map[string]map[string]bool, ok bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if len(ch.pending) == 0 {
		return scope{}, nil, false
	}
	sc = scope{kind: PassEvent, envs: map[string]bool{}, only: map[string]map[string]bool{}}
	changed = map[string]map[string]bool{}
	for key, p := range ch.pending {
		sc.envs[key] = true
		if !p.resync {
			sc.only[key] = p.registries
		}
		changed[key] = p.credentials
	}
	ch.pending = map[string]*envChange{}
	return sc, changed, true
}

// smallPasses runs small passes for the changes reported while the loop waits for timer (due at next), until
// timer fires (nil, true), a small pass leaves something failing (its result, true: the loop schedules the retry)
// or ctx is done (nil, false).
func (u *Updater) smallPasses(ctx context.Context, timer <-chan time.Time, next time.Time) (*Result, bool) {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil, false
		case <-timer:
			return nil, true
		case <-u.changes.wake:
		}
		wait := Debounce
		if gap := minSmallGap - u.clock.Now().Sub(last); gap > wait {
			wait = gap
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-u.clock.After(wait):
		}
		sc, changed, ok := u.changes.take()
		if !ok {
			continue
		}
		// Rancher said these credentials changed: they are no longer fresh, whether this pass writes them or a
		// retry of it does.
		u.unfresh(changed)
		last = u.clock.Now()
		res := u.runPass(ctx, sc)
		if ctx.Err() != nil {
			return nil, false
		}
		if !res.OK() {
			return res, true
		}
		u.health.passDone(res.Start.Add(res.Duration), res.Status, res.Problems, u.cfg.Scrubber.Scrub(res.firstError()), next)
		// As after a scheduled pass: the daemon idles between changes, so the pass's garbage goes back now.
		u.idle()
		debug.FreeOSMemory()
	}
}

// unfresh forgets that these credentials (by environment key) hold a fresh password.
func (u *Updater) unfresh(creds map[string]map[string]bool) {
	for key, ids := range creds {
		for id := range ids {
			delete(u.fresh[key], id)
		}
	}
}
