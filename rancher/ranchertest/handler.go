package ranchertest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ecr-updater/ecr-updater/internal/standin"
)

const challenge = `Basic realm="Enter API access key and secret key as username and password"`

// garbageBody is what a Garbage fault answers: not JSON, as a misconfigured proxy might send.
const garbageBody = "<html><head><title>Rancher</title></head><body>This is not JSON.</body></html>\n"

var (
	hdrJSON      = []string{"application/json"}
	hdrChallenge = []string{challenge}
	hdrProject   = []string{"project"}
	hdrUser      = []string{"user"}
	hdrAdmin     = []string{"admin"}

	hdrEnvironment  = []string{"environment"}
	hdrProjectAdmin = []string{"projectadmin"}
)

// call is one request, resolved: where it points, who sent it, what it may do.
type call struct {
	origin   string // scheme://host of the request
	version  string // "v2-beta" or "v1"
	verBase  string // origin/version
	base     string // link base of the scope: verBase or verBase/projects/<id>
	path     string // escaped request path, as sent
	rawQuery string

	segs    []string // lower-case path segments after the version and the scope
	root    bool
	badPath bool
	scoped  bool
	scopeID string

	loopNext bool // answer a list with a next link to its own URL

	noChallenge bool
	unauth      bool
	deny        int // 403 or 404 for a scope the key may not use
	key         *apiKey
	env         *resource // the environment the request acts in; nil for an unscoped Account API key
	writable    bool
}

// collDef is a served collection.
type collDef struct {
	kind         kind
	resourceType string
	writable     bool
	filters      []string
}

var collections = map[string]*collDef{
	"registries":          {kind: kRegistry, resourceType: "registry", writable: true, filters: registryFilters},
	"registrycredentials": {kind: kCredential, resourceType: "registryCredential", writable: true, filters: credentialFilters},
	"storagepools":        {kind: kRegistry, resourceType: "storagePool", filters: registryFilters},
	"credentials":         {kind: kCredential, resourceType: "credential", filters: schemaByLower["credential"].filters},
	"services":            serviceColl, // services.go
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		return
	}
	defer s.handlers.Done()

	body, tooBig := readBody(r)
	access, secret, hasAuth := r.BasicAuth()
	gen, seq := s.record(r, access, body)
	status := 0
	defer func() { s.finish(gen, seq, status) }()

	if h := s.hook.Load(); h != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		(*h)(r)
	}
	if !s.wait(r.Context(), time.Duration(s.latency.Load())) {
		panic(http.ErrAbortHandler) // no answer: the client left or the server is closing
	}

	lowerPath := strings.ToLower(r.URL.Path)
	var c call
	s.resolve(&c, r, lowerPath, access, secret, hasAuth)
	c.setHeaders(w.Header())

	if f, ok := s.matchFault(r.Method, lowerPath); ok {
		var answered bool
		if status, answered = s.answerFault(w, r, &c, f, body); answered {
			return
		}
	}
	if tooBig && !c.unauth {
		status = s.fail(w, &c, http.StatusRequestEntityTooLarge, "", "", "")
		return
	}
	status = s.dispatch(w, r, &c, body)
}

// readBody reads a request's body, at most maxBodyBytes of it: nil when empty, tooBig when there was more.
func readBody(r *http.Request) (body []byte, tooBig bool) {
	if r.ContentLength == 0 {
		return nil, false
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if len(b) > maxBodyBytes {
		tooBig, b = true, b[:maxBodyBytes]
	}
	if len(b) > 0 {
		body = b
	}
	return body, tooBig
}

// answerFault answers a request as a matching fault says, after the fault's Delay, and returns the status
// answered (0 for none: a dropped connection). answered is false when the fault changes nothing but the delay:
// the request is then answered as usual.
func (s *Server) answerFault(w http.ResponseWriter, r *http.Request, c *call, f Fault, body []byte) (status int, answered bool) {
	if !s.wait(r.Context(), f.Delay) {
		panic(http.ErrAbortHandler)
	}
	switch {
	case f.Hang:
		s.hang(r.Context())
		panic(http.ErrAbortHandler) // returning normally would make net/http answer 200 with no body
	case f.Drop:
		standin.Drop(w)
		return 0, true
	case f.Redirect != 0:
		return s.redirect(w, r, f), true
	case f.HugeBody > 0:
		streamHuge(w, c, r, f)
		return http.StatusOK, true
	case f.Body != "":
		status = statusOr(f.Status, http.StatusOK)
		writeBody(w, status, []byte(f.Body))
		return status, true
	case f.Echo:
		status = statusOr(f.Status, http.StatusUnprocessableEntity)
		return s.fail(w, c, status, "InvalidFormat", "invalid input: "+string(body), ""), true
	case f.Garbage:
		writeBody(w, http.StatusOK, []byte(garbageBody))
		return http.StatusOK, true
	case f.LoopNext:
		c.loopNext = true
		return s.dispatch(w, r, c, body), true
	case f.Status != 0:
		return s.fail(w, c, f.Status, "", "", ""), true
	}
	return 0, false
}

// statusOr is status, or def when status is 0.
func statusOr(status, def int) int {
	if status != 0 {
		return status
	}
	return def
}

// hang waits until the client leaves or the server closes.
func (s *Server) hang(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.closed:
	}
}

// redirect answers a Redirect fault: its status, and a Location of RedirectTo (or the server's own origin)
// followed by the request's path and query.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, f Fault) int {
	to := f.RedirectTo
	if to == "" {
		to = s.scheme + "://" + s.addr
	}
	w.Header().Set("Location", strings.TrimRight(to, "/")+r.URL.RequestURI())
	writeBody(w, f.Redirect, nil)
	return f.Redirect
}

// resolve parses the path (scope, version) and authenticates the key.
func (s *Server) resolve(c *call, r *http.Request, lowerPath, access, secret string, hasAuth bool) {
	host := r.Host
	if host == "" {
		host = s.addr
	}
	c.origin = s.scheme + "://" + host
	if lb := s.linkBase.Load(); lb != nil && *lb != "" {
		c.origin = *lb
	}
	c.path = r.URL.EscapedPath()
	c.rawQuery = r.URL.RawQuery
	c.noChallenge = strings.EqualFold(r.Header.Get("X-API-No-Challenge"), "true")
	c.parsePath(lowerPath)

	s.mu.RLock()
	defer s.mu.RUnlock()
	s.authenticateLocked(c, access, secret, hasAuth)
}

// parsePath reads the API version, the scope and the segments after them from the path; the links' bases follow
// from them and the origin.
func (c *call) parsePath(lowerPath string) {
	var segs []string
	if p := strings.Trim(lowerPath, "/"); p != "" {
		segs = strings.Split(p, "/")
	}
	c.version = "v2-beta"
	switch {
	case len(segs) == 0:
		c.root = true
	case segs[0] == "v2-beta" || segs[0] == "v1":
		if segs[0] == "v1" {
			c.version = "v1"
		}
		segs = segs[1:]
		c.root = len(segs) == 0
	default:
		c.badPath = true
	}
	c.verBase = c.origin + "/" + c.version
	c.base = c.verBase
	if !c.badPath && len(segs) >= 3 && segs[0] == "projects" {
		c.scoped, c.scopeID = true, segs[1]
		segs = segs[2:]
		c.base = c.verBase + "/projects/" + c.scopeID
	}
	c.segs = segs
}

// authenticateLocked checks the key (else the call is unauth) and gives the call the environment it acts in, or
// the status that denies its scope.
func (s *Server) authenticateLocked(c *call, access, secret string, hasAuth bool) {
	key := s.st.keys[access]
	if !hasAuth || key == nil || subtle.ConstantTimeCompare([]byte(secret), []byte(key.secret)) != 1 ||
		(key.env != nil && !envKeyUsable(key.env.state)) {
		c.unauth = true
		return
	}
	c.key = key
	switch {
	case key.env != nil:
		c.env, c.writable = key.env, true
		if c.scoped && c.scopeID != key.env.id {
			c.deny = http.StatusForbidden
		}
	case c.scoped:
		s.userScopeLocked(c, key.user)
	}
}

// userScopeLocked gives the call of an Account API key of u the environment of its scope, if u may use it.
func (s *Server) userScopeLocked(c *call, u *user) {
	p := s.st.projectLocked(c.scopeID)
	switch {
	case p == nil || hiddenState(p.state): // Cattle: 403 for every key, an administrator's too
		c.deny = http.StatusForbidden
	case !u.admin && !u.member[p.id]:
		c.deny = http.StatusForbidden
	default:
		c.env, c.writable = p, true
	}
}

func (c *call) setHeaders(h http.Header) {
	h["Content-Type"] = hdrJSON
	h["X-API-Schemas"] = []string{c.base + "/schemas"}
	if c.key == nil {
		return
	}
	if c.key.env != nil {
		id := []string{c.key.env.id}
		h["X-API-Account-Id"] = id
		h["X-API-User-Id"] = id
		switch c.key.kind {
		case "environment":
			h["X-API-Account-Kind"] = hdrEnvironment
		case "projectadmin":
			h["X-API-Account-Kind"] = hdrProjectAdmin
		default:
			h["X-API-Account-Kind"] = hdrProject
		}
		return
	}
	id := []string{c.key.user.id}
	h["X-API-Account-Id"] = id
	h["X-API-User-Id"] = id
	if c.key.user.admin {
		h["X-API-Account-Kind"] = hdrAdmin
	} else {
		h["X-API-Account-Kind"] = hdrUser
	}
}

// hugeItem is what a HugeBody answer repeats unless the fault names its own item.
const hugeItem = `{"id":"1sp1","type":"registry","kind":"registry","state":"active","serverAddress":"huge.example.com"}`

// streamHuge writes a 200 list of f.HugeBody bytes (about: whole items) of f.HugeItem, chunk by chunk, until done or
// the client left; with f.HugeNext, a next link to the page after this one.
func streamHuge(w http.ResponseWriter, c *call, r *http.Request, f Fault) {
	item := f.HugeItem
	if item == "" {
		item = hugeItem
	}
	const head = `{"type":"collection","resourceType":"registry","data":[`
	tail := "]}"
	if f.HugeNext {
		q := r.URL.Query()
		n := 0
		if m := q.Get("marker"); strings.HasPrefix(m, "m") {
			n, _ = strconv.Atoi(m[1:])
		}
		q.Set("marker", "m"+strconv.Itoa(n+1))
		e := getEnc(false)
		e.raw(`],"pagination":{"next":`)
		e.str(c.origin + c.path + "?" + q.Encode())
		e.raw(`}}`)
		tail = string(e.b)
		putEnc(e)
	}
	per := max(1, (64<<10)/(len(item)+1))
	chunk := []byte(strings.Repeat(item+",", per))
	w.Header()["Content-Type"] = hdrJSON
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, head); err != nil {
		return
	}
	for left := f.HugeBody - int64(len(head)+len(item)+len(tail)); left > 0; left -= int64(len(chunk)) {
		b := chunk
		if left < int64(len(b)) { // the last chunk: whole items only
			b = b[:(int(left)/(len(item)+1)+1)*(len(item)+1)]
		}
		if _, err := w.Write(b); err != nil {
			return
		}
	}
	_, _ = io.WriteString(w, item+tail)
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// reply writes a JSON answer from an encoder and returns it to the pool.
func reply(w http.ResponseWriter, status int, e *enc) int {
	writeBody(w, status, e.b)
	putEnc(e)
	return status
}

// cattleCodes are the codes (and messages) of Cattle's generic errors: its ResponseCodes words, not Go's status
// texts (405 is "Method not allowed").
var cattleCodes = map[int]string{
	http.StatusUnauthorized:     "Unauthorized",
	http.StatusForbidden:        "Forbidden",
	http.StatusNotFound:         "Not Found",
	http.StatusMethodNotAllowed: "Method not allowed",
}

// statusCode gives Cattle's error code and message for a status: the generic codes for 401, 403, 404 and 405, and
// for another status (a fault's) its status text without spaces.
func statusCode(status int) (code, message string) {
	if c, ok := cattleCodes[status]; ok {
		return c, c
	}
	message = http.StatusText(status)
	if message == "" {
		return "Error", ""
	}
	code = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, message)
	return code, message
}

// fail answers a Cattle error. code "" uses the status's usual code and message; message "" is written as null.
func (s *Server) fail(w http.ResponseWriter, c *call, status int, code, message, fieldName string) int {
	if code == "" {
		code, message = statusCode(status)
	}
	if status == http.StatusUnauthorized && !c.noChallenge {
		w.Header()["WWW-Authenticate"] = hdrChallenge
	}
	e := getEnc(s.opts.EscapeSlashes)
	writeError(e, newUUID(), status, code, message, fieldName)
	return reply(w, status, e)
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, c *call, body []byte) int {
	switch {
	case c.unauth:
		return s.fail(w, c, http.StatusUnauthorized, "", "", "")
	case c.badPath:
		return s.fail(w, c, http.StatusNotFound, "", "", "")
	case c.deny != 0:
		return s.fail(w, c, c.deny, "", "", "")
	case c.root:
		return s.serveRoot(w, r, c)
	}
	switch c.segs[0] {
	case "subscribe": // the event stream, in subscribe.go
		if len(c.segs) == 1 {
			return s.subscribe(w, r, c)
		}
	case "schemas":
		return s.serveSchemas(w, r, c)
	case "projects":
		return s.serveProjects(w, r, c)
	default:
		return s.serveCollection(w, r, c, body)
	}
	return s.fail(w, c, http.StatusNotFound, "", "", "")
}

// serveRoot answers the API version (/v2-beta, /v1, and / as v2-beta).
func (s *Server) serveRoot(w http.ResponseWriter, r *http.Request, c *call) int {
	if r.Method != http.MethodGet {
		return s.fail(w, c, http.StatusMethodNotAllowed, "", "", "")
	}
	e := getEnc(s.opts.EscapeSlashes)
	writeAPIVersion(e, c.version, c.verBase)
	return reply(w, http.StatusOK, e)
}

// serveSchemas answers /schemas and /schemas/<type>.
func (s *Server) serveSchemas(w http.ResponseWriter, r *http.Request, c *call) int {
	if len(c.segs) > 2 {
		return s.fail(w, c, http.StatusNotFound, "", "", "")
	}
	var d *schemaDef
	if len(c.segs) == 2 {
		if d = schemaByLower[c.segs[1]]; d == nil {
			return s.fail(w, c, http.StatusNotFound, "", "", "")
		}
	}
	if r.Method != http.MethodGet {
		return s.fail(w, c, http.StatusMethodNotAllowed, "", "", "")
	}
	e := getEnc(s.opts.EscapeSlashes)
	if d != nil {
		writeSchema(e, d, c.base, c.verBase, c.writable)
	} else {
		writeSchemas(e, c.base, c.verBase, c.writable)
	}
	return reply(w, http.StatusOK, e)
}

// serveProjects answers /projects and /projects/<id> (unscoped only).
func (s *Server) serveProjects(w http.ResponseWriter, r *http.Request, c *call) int {
	switch {
	case c.scoped || len(c.segs) > 2:
		return s.fail(w, c, http.StatusNotFound, "", "", "")
	case r.Method != http.MethodGet:
		return s.fail(w, c, http.StatusMethodNotAllowed, "", "", "")
	case len(c.segs) == 2:
		return s.getProject(w, c, c.segs[1])
	}
	return s.list(w, r, c, projectColl)
}

// serveCollection answers a served collection (/<type>) and its resources (/<type>/<id>).
func (s *Server) serveCollection(w http.ResponseWriter, r *http.Request, c *call, body []byte) int {
	def := collections[c.segs[0]]
	switch {
	case def == nil || len(c.segs) > 2:
		return s.fail(w, c, http.StatusNotFound, "", "", "")
	case len(c.segs) == 1:
		return s.collectionRequest(w, r, c, def, body)
	}
	return s.resourceRequest(w, r, c, def, c.segs[1], body)
}

// collectionRequest answers a request on a collection: a list or a create.
func (s *Server) collectionRequest(w http.ResponseWriter, r *http.Request, c *call, def *collDef, body []byte) int {
	switch r.Method {
	case http.MethodGet:
		return s.list(w, r, c, def)
	case http.MethodPost:
		return s.create(w, c, def, body)
	}
	return s.fail(w, c, http.StatusMethodNotAllowed, "", "", "")
}

// resourceRequest answers a request on one resource of a collection: a get, an update, a DELETE or an action.
func (s *Server) resourceRequest(w http.ResponseWriter, r *http.Request, c *call, def *collDef, id string, body []byte) int {
	switch r.Method {
	case http.MethodGet:
		return s.get(w, c, def, id)
	case http.MethodPut:
		return s.update(w, c, def, id, body)
	case http.MethodDelete:
		return s.action(w, c, def, id, "remove", true)
	case http.MethodPost:
		if a := r.URL.Query().Get("action"); a != "" {
			return s.action(w, c, def, id, a, false)
		}
	}
	return s.fail(w, c, http.StatusMethodNotAllowed, "", "", "")
}

var projectColl = &collDef{kind: kProject, resourceType: "project", filters: projectFilters}

func (s *Server) list(w http.ResponseWriter, r *http.Request, c *call, def *collDef) int {
	q := r.URL.Query()
	p := pageSpec{limit: s.opts.DefaultPageSize, after: -1}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil {
		p.limit = n
		if n <= 0 { // Cattle: no limit means its cap
			p.limit = s.opts.MaxPageSize
		}
	}
	p.limit = min(p.limit, s.opts.MaxPageSize)
	if m := q.Get("marker"); strings.HasPrefix(m, "m") {
		if n, err := strconv.Atoi(m[1:]); err == nil && n > 0 {
			p.offset = n
		}
	} else if m != "" {
		p.after = idNum(m)
	}
	p.conds, p.showRemoved = parseConds(q, def.filters)

	s.mu.RLock()
	var buf [4]*index
	var tmp index
	page, more := collect(s.sourcesLocked(c, def.kind, buf[:0], &tmp), &p)
	next := ""
	if more {
		if p.after >= 0 {
			q.Set("marker", page[len(page)-1].id)
		} else {
			q.Set("marker", "m"+strconv.Itoa(p.offset+len(page)))
		}
		q.Set("limit", strconv.Itoa(p.limit))
		next = c.origin + c.path + "?" + q.Encode()
	}
	if c.loopNext {
		next = c.origin + c.path
		if c.rawQuery != "" {
			next += "?" + c.rawQuery
		}
	}
	e := getEnc(s.opts.EscapeSlashes)
	writeCollection(e, c, def.resourceType, def.filters, &p, page, next)
	s.mu.RUnlock()
	return reply(w, http.StatusOK, e)
}

// sourcesLocked returns the sorted indexes a list of kind k draws from for this caller.
func (s *Server) sourcesLocked(c *call, k kind, buf []*index, tmp *index) []*index {
	if k == kProject {
		switch {
		case c.env != nil:
			tmp.items = []*resource{c.env}
		case c.key.user.admin:
			return append(buf, &s.st.projects)
		default:
			for _, id := range c.key.user.members {
				if p := s.st.projectLocked(id); p != nil {
					tmp.items = append(tmp.items, p)
				}
			}
			sort.Slice(tmp.items, func(i, j int) bool { return tmp.items[i].num < tmp.items[j].num })
		}
		for _, p := range tmp.items {
			if hiddenState(p.state) {
				tmp.hidden++
			}
		}
		return append(buf, tmp)
	}
	if c.env != nil {
		return append(buf, c.env.idx(k))
	}
	u := c.key.user
	if u.admin {
		return append(buf, s.st.global(k))
	}
	for _, id := range u.members {
		if p := s.st.projectLocked(id); p != nil && !hiddenState(p.state) {
			buf = append(buf, p.idx(k))
		}
	}
	return buf
}

func (s *Server) visibleLocked(c *call, env *resource) bool {
	if c.env != nil {
		return env == c.env
	}
	u := c.key.user
	return u.admin || (env != nil && u.member[env.id] && !hiddenState(env.state))
}

// lookupLocked finds a resource by id for this caller: nil if unknown, of another kind, purged or not visible.
func (s *Server) lookupLocked(c *call, def *collDef, id string) *resource {
	r := s.st.byID[id]
	if r == nil || r.kind != def.kind || r.state == "purged" || !s.visibleLocked(c, r.env) {
		return nil
	}
	return r
}

func (s *Server) get(w http.ResponseWriter, c *call, def *collDef, id string) int {
	s.mu.RLock()
	r := s.lookupLocked(c, def, id)
	if r == nil {
		s.mu.RUnlock()
		return s.fail(w, c, http.StatusNotFound, "", "", "")
	}
	e := getEnc(s.opts.EscapeSlashes)
	writeResource(e, r, c.base, c.verBase, r.state, false)
	s.mu.RUnlock()
	return reply(w, http.StatusOK, e)
}

func (s *Server) getProject(w http.ResponseWriter, c *call, id string) int {
	s.mu.RLock()
	p := s.st.projectLocked(id)
	status := http.StatusOK
	switch {
	case p == nil || p.state == "purged":
		status = http.StatusNotFound
	case c.env != nil && p != c.env:
		status = http.StatusForbidden
	case c.env == nil && !c.key.user.admin && !c.key.user.member[id]:
		status = http.StatusForbidden
	}
	if status != http.StatusOK {
		s.mu.RUnlock()
		return s.fail(w, c, status, "", "", "")
	}
	e := getEnc(s.opts.EscapeSlashes)
	writeProject(e, p, c.verBase)
	s.mu.RUnlock()
	return reply(w, http.StatusOK, e)
}

// parseObject reads a JSON object body; an empty body is an empty object.
func parseObject(body []byte) (map[string]any, bool) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, true
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// strField reads an optional string field: absent or null is "", another type is an error.
func strField(obj map[string]any, name string) (v string, present, ok bool) {
	raw, present := obj[name]
	switch x := raw.(type) {
	case nil:
		return "", present, true
	case string:
		return x, true, true
	}
	return "", true, false
}

var (
	credentialUpdatable = []string{"publicValue", "secretValue", "name", "description"}
	registryUpdatable   = []string{"name", "description"}
)

func (s *Server) update(w http.ResponseWriter, c *call, def *collDef, id string, body []byte) int {
	if !def.writable || !c.writable {
		return s.fail(w, c, http.StatusMethodNotAllowed, "", "", "")
	}
	obj, ok := parseObject(body)
	if !ok {
		return s.fail(w, c, http.StatusUnprocessableEntity, "InvalidType", "", "")
	}
	names := registryUpdatable
	if def.kind == kCredential {
		names = credentialUpdatable
	}
	var vals [4]string
	var present [4]bool
	for i, n := range names {
		v, p, ok := strField(obj, n)
		if !ok {
			return s.fail(w, c, http.StatusUnprocessableEntity, "InvalidType", "", n)
		}
		vals[i], present[i] = v, p
	}

	s.mu.Lock()
	// Cattle finds the resource by id whatever its state (getById ignores removed): a PUT on a removed or purged
	// resource is written and answered 200, in its state.
	r := s.st.byID[id]
	if r == nil || r.kind != def.kind || !s.visibleLocked(c, r.env) {
		s.mu.Unlock()
		return s.fail(w, c, http.StatusNotFound, "", "", "")
	}
	changed := false
	for i, n := range names {
		if !present[i] {
			continue
		}
		switch n {
		case "publicValue":
			changed = changed || r.publicValue != vals[i]
			r.publicValue = vals[i]
		case "secretValue":
			changed = changed || r.secretValue != vals[i]
			r.secretValue = vals[i]
		case "name":
			r.name = vals[i]
		case "description":
			r.description = vals[i]
		}
	}
	if changed {
		r.writes++
	}
	s.st.changes.mark(r) // Cattle publishes a resource.change for every update
	e := getEnc(s.opts.EscapeSlashes)
	writeResource(e, r, c.base, c.verBase, r.state, false)
	s.mu.Unlock()
	return reply(w, http.StatusOK, e)
}

func (s *Server) create(w http.ResponseWriter, c *call, def *collDef, body []byte) int {
	if !def.writable || !c.writable {
		return s.fail(w, c, http.StatusMethodNotAllowed, "", "", "")
	}
	obj, ok := parseObject(body)
	if !ok {
		return s.fail(w, c, http.StatusUnprocessableEntity, "InvalidType", "", "")
	}
	required := "serverAddress"
	if def.kind == kCredential {
		required = "registryId"
	}
	ref, code := requiredField(obj, required, def.kind)
	if code != "" {
		return s.fail(w, c, http.StatusUnprocessableEntity, code, "", required)
	}
	var vals [4]string
	for i, n := range credentialUpdatable {
		if def.kind == kRegistry && i < 2 {
			continue
		}
		v, _, ok := strField(obj, n)
		if !ok {
			return s.fail(w, c, http.StatusUnprocessableEntity, "InvalidType", "", n)
		}
		vals[i] = v
	}

	s.mu.Lock()
	env := c.env
	if def.kind == kCredential {
		// Cattle checks only that the registry exists in the environment: a removed one will do.
		reg := s.st.byID[ref]
		if reg == nil || reg.kind != kRegistry || reg.env != env || reg.state == "purged" {
			s.mu.Unlock()
			return s.fail(w, c, http.StatusUnprocessableEntity, "InvalidReference", "", required)
		}
	} else {
		for _, x := range env.regs.items {
			if !hiddenState(x.state) && strings.EqualFold(x.serverAddress, ref) {
				s.mu.Unlock()
				// Cattle's ClientVisibleException(400, "ServerAddressUsed"): the code as message, no fieldName.
				return s.fail(w, c, http.StatusBadRequest, "ServerAddressUsed", "ServerAddressUsed", "")
			}
		}
	}
	r := s.st.newResourceLocked(def.kind, env, "active")
	if def.kind == kCredential {
		r.registryID, r.publicValue, r.secretValue = ref, vals[0], vals[1]
	} else {
		r.serverAddress = ref
	}
	r.name, r.description = vals[2], vals[3]
	e := getEnc(s.opts.EscapeSlashes)
	// The real sequence is requested -> registering -> inactive -> activating -> active; the answer shows
	// "registering" and the stored resource is active at once.
	writeResource(e, r, c.base, c.verBase, "registering", true)
	s.mu.Unlock()
	return reply(w, http.StatusCreated, e)
}

// requiredField reads the required field of a create: its value, or Cattle's error code. An empty serverAddress
// is too short (Cattle's minimum length is 1); an empty or absent reference is missing.
func requiredField(obj map[string]any, name string, k kind) (v, code string) {
	v, isStr := obj[name].(string)
	switch {
	case v == "" && isStr && k == kRegistry:
		return "", "MinLengthExceeded"
	case v == "" && (isStr || obj[name] == nil):
		return "", "MissingRequired"
	case !isStr:
		return "", "InvalidType"
	}
	return v, ""
}

// removable reports whether the remove action (and DELETE) is available in a state.
func removable(state string) bool {
	return state == "inactive" || state == "requested" || state == "registering"
}

// nextState is the state an action leads to from state, "" when the action is not available there.
func nextState(action, state string) string {
	switch {
	case action == "activate" && state == "inactive":
		return "active"
	case action == "deactivate" && state == "active":
		return "inactive"
	case action == "remove" && removable(state):
		return "removed"
	case action == "purge" && state == "removed":
		return "purged"
	}
	return ""
}

// action runs a lifecycle action (POST ?action=, answered 202; DELETE runs "remove", answered 200). An action not
// available in the current state (or unknown) is 422 ActionNotAvailable, as Cattle answers; a DELETE that cannot
// remove is Cattle's generic 405.
func (s *Server) action(w http.ResponseWriter, c *call, def *collDef, id, action string, del bool) int {
	if !def.writable || !c.writable {
		return s.fail(w, c, http.StatusMethodNotAllowed, "", "", "")
	}
	s.mu.Lock()
	r := s.lookupLocked(c, def, id)
	if r == nil {
		s.mu.Unlock()
		return s.fail(w, c, http.StatusNotFound, "", "", "")
	}
	next := nextState(action, r.state)
	switch {
	case next == "" && del:
		s.mu.Unlock()
		return s.fail(w, c, http.StatusMethodNotAllowed, "", "", "")
	case next == "":
		s.mu.Unlock()
		return s.fail(w, c, http.StatusUnprocessableEntity, "ActionNotAvailable", "", "")
	}
	s.st.setStateLocked(r, next)
	if next == "purged" && r.kind == kRegistry {
		// Purging a registry removes its credentials.
		for _, cr := range r.env.creds.items {
			if cr.registryID == r.id && !hiddenState(cr.state) {
				s.st.setStateLocked(cr, "removed")
			}
		}
	}
	e := getEnc(s.opts.EscapeSlashes)
	writeResource(e, r, c.base, c.verBase, r.state, false)
	s.mu.Unlock()
	if del {
		return reply(w, http.StatusOK, e)
	}
	return reply(w, http.StatusAccepted, e)
}
