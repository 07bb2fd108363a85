package updater

import (
	"crypto/sha256"
	"maps"
	"strings"
	"sync"
	"time"
)

// Change is what Rancher reported of one environment.
type Change struct {
	// RegistryID is a registry that changed, or the registry of the credential that changed.
	RegistryID string
	// CredentialID is a credential that changed: unless the change is the echo of the updater's own write, the
	// updater forgets what it wrote there, so the environment's next pass writes it again.
	CredentialID string
	// Resync: the report stream (re)connected, and changes made while it was away were not reported. The
	// environment is read again and what does not hold the current token is written; the echoes the updater
	// expected are given up (they may have been lost).
	Resync bool
	// Lost: more changes came at once than are kept, and their details were dropped: the environment is read
	// again and every credential of it written.
	Lost bool
	// ServiceID is a service that changed and Images the images its resource shows (DISCOVER_REGISTRIES): a
	// change only when they differ from the images the last read of the service found (a new image may need a
	// registry; a health change, a scaling or a restart cannot).
	ServiceID string
	Images    []string
}

const (
	// Debounce is how long after the first change of an environment its pass comes, so that a burst is one pass.
	Debounce = 200 * time.Millisecond
	// minEventGap is the least time between the start of a pass that read an environment and the start of the
	// next pass for changes in it: a stream of changes costs an environment at most two reads a second.
	minEventGap = 500 * time.Millisecond
	// echoExpiry is how long the echo of a write is expected at most. Rancher publishes a change within about a
	// second; a minute covers a loaded Cattle or a buffering proxy many times over, and an echo never expected for
	// long cannot hide a real change for long.
	echoExpiry = time.Minute
	// MaxIDBytes bounds the ids a change may name: Cattle's are a few bytes ("1c123"); a longer one is not
	// Rancher's and is dropped.
	MaxIDBytes = 64
	// MaxPendingChanges bounds the credentials kept per environment until its pass; past it, the environment's
	// changes count as lost (Change.Lost).
	MaxPendingChanges = 1024
	// maxServicesKnown bounds the services whose images the inbox keeps per environment (as many as one list may
	// hold); a service event past it counts as a change, and its images are not kept.
	maxServicesKnown = 200_000
)

// inbox collects what the event streams report between passes, and the echoes the updater's own writes will
// cause. Changed runs on the goroutines that read the streams and never blocks them; the loop takes the changes
// between passes; the writes of a pass add the echoes they expect.
type inbox struct {
	mu      sync.Mutex
	pending map[string]*envChanges // by environment key
	// echoes are the reports of the updater's own writes that Rancher has still to send.
	echoes    map[echoKey]echo
	nextPrune time.Time
	// images are the images of each service as the last read of its environment found them, or as an event
	// reported them since (by environment key, then service id), as digests: bounded whatever an event carries.
	images map[string]map[string]imagesDigest
	// received counts the changes accepted (tests wait until the loop has taken them all).
	received uint64
	wake     chan struct{}
}

// envChanges are the changes of one environment since the loop last took them.
type envChanges struct {
	first  time.Time
	forget map[string]bool // credentials that may hold anything now
	all    bool            // every credential may (changes were lost)
}

type echoKey struct{ env, id string }

// echo is what the updater expects of one resource: n reports of its writes, until the safety expiry.
type echo struct {
	n     int
	until time.Time
}

func newInbox() *inbox {
	return &inbox{pending: map[string]*envChanges{}, echoes: map[echoKey]echo{}, images: map[string]map[string]imagesDigest{},
		wake: make(chan struct{}, 1)}
}

// Changed reports a change of one environment (by its key: the id given in RANCHER_ENVIRONMENTS, or "" for the
// key's own environment) and says whether it counts. The echo of the updater's own write does not count: each
// write expects exactly one report of its resource, taken by the first that comes, however late. Nor do ids
// longer than Rancher's, nor a service whose images did not change. It never blocks.
func (u *Updater) Changed(envKey string, c Change) bool {
	now := u.clock.Now()
	in := u.inbox
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case c.Resync || c.Lost:
		in.giveUpEchoes(envKey)
	case len(c.CredentialID) > MaxIDBytes || len(c.RegistryID) > MaxIDBytes || len(c.ServiceID) > MaxIDBytes:
		return false
	case c.ServiceID != "":
		if !in.imagesChanged(envKey, c.ServiceID, c.Images) {
			return false
		}
	case in.echo(envKey, c, now):
		return false
	}
	p := in.pending[envKey]
	if p == nil {
		p = &envChanges{first: now, forget: map[string]bool{}}
		in.pending[envKey] = p
	}
	switch {
	case c.Lost || p.all:
		p.all, p.forget = true, nil
	case c.CredentialID != "" && len(p.forget) >= MaxPendingChanges:
		p.all, p.forget = true, nil
	case c.CredentialID != "":
		p.forget[c.CredentialID] = true
	}
	in.received++
	select {
	case in.wake <- struct{}{}:
	default:
	}
	return true
}

// echo reports whether a change is the report of the updater's own write, and takes it if so.
func (in *inbox) echo(envKey string, c Change, now time.Time) bool {
	id := c.CredentialID
	if id == "" {
		id = c.RegistryID
	}
	k := echoKey{envKey, id}
	e, ok := in.echoes[k]
	switch {
	case !ok:
		return false
	case !now.Before(e.until):
		delete(in.echoes, k)
		return false
	case e.n <= 1:
		delete(in.echoes, k)
	default:
		e.n--
		in.echoes[k] = e
	}
	return true
}

// expect notes that the updater is about to write a resource (or has just created it): Rancher will report it once.
func (in *inbox) expect(envKey, id string, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if now.After(in.nextPrune) {
		for k, e := range in.echoes {
			if !now.Before(e.until) {
				delete(in.echoes, k)
			}
		}
		in.nextPrune = now.Add(echoExpiry)
	}
	k := echoKey{envKey, id}
	e := in.echoes[k]
	e.n++
	e.until = now.Add(echoExpiry)
	in.echoes[k] = e
}

// unexpect takes back an echo expected of a write Rancher refused.
func (in *inbox) unexpect(envKey, id string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	k := echoKey{envKey, id}
	if e := in.echoes[k]; e.n > 1 {
		e.n--
		in.echoes[k] = e
	} else {
		delete(in.echoes, k)
	}
}

// giveUpEchoes forgets the echoes expected in an environment whose reports may have been lost.
func (in *inbox) giveUpEchoes(envKey string) {
	for k := range in.echoes {
		if k.env == envKey {
			delete(in.echoes, k)
		}
	}
}

// imagesDigest stands for the images of a service: the SHA-256 of their ids, one per line.
type imagesDigest [sha256.Size]byte

func digestImages(images []string) imagesDigest {
	return sha256.Sum256([]byte(strings.Join(images, "\n")))
}

// imagesChanged reports whether a service's images differ from what the last read found, and remembers them.
func (in *inbox) imagesChanged(envKey, id string, images []string) bool {
	now := digestImages(images)
	known, ok := in.images[envKey][id]
	switch {
	case ok && known == now || !ok && len(images) == 0:
		return false
	case !ok && len(in.images[envKey]) >= maxServicesKnown:
		return true
	}
	if in.images[envKey] == nil {
		in.images[envKey] = map[string]imagesDigest{}
	}
	in.images[envKey][id] = now
	return true
}

// learnImages records the images of the services each environment's read found (DISCOVER_REGISTRIES), for
// imagesChanged; after a scheduled pass, the environments it no longer serves are forgotten.
func (in *inbox) learnImages(res *Result) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if res.Kind == PassScheduled {
		served := res.served()
		maps.DeleteFunc(in.images, func(key string, _ map[string]imagesDigest) bool { return !served[key] })
	}
	for _, e := range res.Envs {
		switch {
		case e.SkipReason != "":
			delete(in.images, e.key)
		case e.images != nil:
			in.images[e.key] = e.images
		}
	}
}

// take returns the changes reported since the last take, and how many changes have been accepted in all.
func (in *inbox) take() (map[string]*envChanges, uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.pending) == 0 {
		return nil, in.received
	}
	p := in.pending
	in.pending = map[string]*envChanges{}
	return p, in.received
}
