// Package ecrtest is an in-process stand-in, like net/http/httptest, for the
// parts of AWS that ecr-updater talks to: the Amazon ECR GetAuthorizationToken
// API (AWS JSON 1.1 protocol), the STS AssumeRole, AssumeRoleWithWebIdentity
// and GetCallerIdentity actions (AWS query protocol, XML answers), and the
// registry hosts themselves for GET /v2/ (registry.go: reached through a
// forward proxy, RegistryProxyURL).
//
// A Server listens on 127.0.0.1 over real HTTP (or HTTPS with a self-signed
// certificate, see Options.TLS and Server.CAPEM), so the real, unmodified
// aws-sdk-go-v2 clients can be pointed at it with BaseEndpoint or with
// AWS_ENDPOINT_URL_ECR / AWS_ENDPOINT_URL_STS. ECR and STS share the one URL:
// requests carrying X-Amz-Target are ECR, form requests carrying Action are STS.
//
// The package owns:
//   - IAM principals: long-term keys (AddKey), roles (AddRole) and the
//     temporary keys STS issues for them;
//   - SigV4 verification of every signed request, recomputed with
//     aws/signer/v4 from the stored secret, with the error codes, statuses and
//     messages AWS answers for missing, unknown, mis-signed and expired keys;
//   - what was issued: tokens and passwords (Issued, Passwords), calls per
//     region (Calls, CallsIn) and roles assumed (Assumed);
//   - fault injection (AddFault): AWS error codes, delays, hangs, dropped
//     connections and malformed-but-200 answers.
//
// Every method is safe for concurrent use.
package ecrtest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ecr-updater/ecr-updater/internal/standin"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Names of the actions a Fault can be restricted to.
const (
	ActionGetAuthorizationToken     = "GetAuthorizationToken"
	ActionAssumeRole                = "AssumeRole"
	ActionAssumeRoleWithWebIdentity = "AssumeRoleWithWebIdentity"
)

// DefaultTokenTTL is the lifetime of issued ECR tokens when none is set, as in AWS.
const DefaultTokenTTL = 12 * time.Hour

// maxBody bounds the request bodies the server reads.
const maxBody = 1 << 20

// Options configure a Server.
type Options struct {
	TLS      bool          // HTTPS with a self-signed cert for 127.0.0.1/localhost; CAPEM() returns it
	TokenTTL time.Duration // lifetime of issued tokens; 0 means 12h
	Latency  time.Duration // added before answering every request
}

// Issued is one ECR authorization token handed out by the server.
type Issued struct {
	Region      string    // region of the request's SigV4 credential scope
	Account     string    // account in proxyEndpoint: the caller's, or the registryId asked for
	AccessKeyID string    // key that signed the request
	Password    string    // the password inside the token
	Token       string    // the authorizationToken sent: base64 of "AWS:" + Password
	ExpiresAt   time.Time // expiresAt sent (millisecond precision, UTC)
	At          time.Time // when it was issued, by the server's clock (SetNow)
}

// Fault changes the answer to matching requests. The first fault added that
// matches a request (Region and Action) is used, one fault per request, and
// its Times counted down, so faults added in turn answer requests in turn.
// The region of a request is that of its SigV4 credential scope: "" for the
// unsigned AssumeRoleWithWebIdentity, which only faults without a Region match.
//
// Faults are matched as a request arrives, before it is authenticated. Their
// effects come in this order: Options.Latency plus Delay; Hang; Drop; Redirect;
// an error answer (Code or Status) in the protocol of the action (AWS JSON 1.1 for ECR,
// query XML for STS); otherwise the request is authenticated and answered
// normally, and Token, OmitExpiresAt, OmitProxyEndpoint and Empty shape a
// successful GetAuthorizationToken answer (ignored for STS).
//
// Default statuses by Code, as AWS answers them: 500 for ServerException and
// Internal*, 503 for ServiceUnavailable(Exception), 403 for
// InvalidSignatureException, SignatureDoesNotMatch, AccessDenied (STS),
// InvalidClientTokenId, MissingAuthenticationToken, RegionDisabledException
// and OptInRequired, 400 for every other code (ThrottlingException,
// AccessDeniedException, ExpiredTokenException, UnrecognizedClientException,
// InvalidParameterException, ...).
type Fault struct {
	Region            string        // "" any region
	Action            string        // "" any; or "GetAuthorizationToken", "AssumeRole", "AssumeRoleWithWebIdentity"
	Code              string        // answer with this AWS error code; status chosen as AWS does unless Status set
	Status            int           // HTTP status of the error answer (alone, >= 400: an error answer without a code)
	Delay             time.Duration // wait before answering
	Hang              bool          // never answer until the client goes away or Close()
	Drop              bool          // close the connection without an answer
	Redirect          string        // answer 307 Temporary Redirect with this Location (for any action)
	Token             string        // answer 200 but with this authorizationToken (garbage tokens)
	OmitExpiresAt     bool          // answer 200 without expiresAt
	OmitProxyEndpoint bool          // answer 200 without proxyEndpoint
	Empty             bool          // answer 200 with "authorizationData":[]
	Times             int           // how many matching requests; 0 means until ClearFaults
}

// isError reports whether the fault answers with an AWS error.
func (f *Fault) isError() bool { return f.Code != "" || f.Status >= 400 }

type faultEntry struct {
	f    Fault
	left int // remaining matches; -1 for unlimited
}

// principal is an IAM identity with a key: a user's long-term key or a role session's temporary key.
type principal struct {
	accessKeyID  string
	secret       string
	sessionToken string // temporary keys only
	account      string
	arn          string
	temporary    bool
	expires      time.Time // temporary keys only, wall clock
}

type role struct {
	arn, partition, account, name string
}

// Server is an ECR and STS stand-in listening on 127.0.0.1.
type Server struct {
	URL string // e.g. "http://127.0.0.1:41235", no trailing slash

	srv       *http.Server
	serveDone chan struct{}
	caPEM     []byte
	tls       bool
	signer    *v4.Signer
	client    *http.Client

	closeOnce sync.Once
	done      chan struct{} // closed by Close
	inflight  sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	ttl     time.Duration
	latency time.Duration
	now     func() time.Time
	keys    map[string]*principal
	roles   map[string]role
	faults  []*faultEntry
	issued  []Issued
	assumed []Assumption
	calls   int
	callsIn map[string]int

	reg *registryHosts // registry.go: started on first use
}

// New starts a server on 127.0.0.1 and returns it; Close it when done.
// It panics if it cannot listen, like httptest.NewServer.
func New(opts Options) *Server {
	s := &Server{
		serveDone: make(chan struct{}),
		done:      make(chan struct{}),
		tls:       opts.TLS,
		signer:    v4.NewSigner(),
		ttl:       opts.TokenTTL,
		latency:   opts.Latency,
		now:       time.Now,
		keys:      make(map[string]*principal),
		roles:     make(map[string]role),
		callsIn:   make(map[string]int),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("ecrtest: listen on 127.0.0.1: %v", err))
	}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serve),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // TLS handshake noise from untrusting clients
		// HTTP/1.1 only, so that Drop always closes a connection.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	transport := &http.Transport{
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     90 * time.Second,
	}
	scheme := "http"
	if opts.TLS {
		cert, caPEM, err := standin.SelfSignedCert("ecrtest")
		if err != nil {
			ln.Close()
			panic(fmt.Sprintf("ecrtest: make certificate: %v", err))
		}
		s.caPEM = caPEM
		s.srv.TLSConfig = &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"http/1.1"},
			MinVersion:   tls.VersionTLS12,
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, s.srv.TLSConfig)
		scheme = "https"
	}
	s.client = &http.Client{Transport: transport}
	s.URL = scheme + "://" + ln.Addr().String()
	go func() {
		defer close(s.serveDone)
		_ = s.srv.Serve(ln)
	}()
	return s
}

// Close stops the server: hanging and delayed requests are cut off, and Close
// returns once every handler has returned. It may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
		_ = s.srv.Close()
		<-s.serveDone
		s.inflight.Wait()
		s.closeRegistries() // registry.go
		s.client.CloseIdleConnections()
	})
}

// CAPEM returns the PEM certificate the server presents with Options.TLS
// (self-signed, for 127.0.0.1, ::1 and localhost); nil without TLS.
func (s *Server) CAPEM() []byte {
	if s.caPEM == nil {
		return nil
	}
	return append([]byte(nil), s.caPEM...)
}

// AWSConfig returns an SDK configuration for clients of this server: the
// region, the credentials, BaseEndpoint set to URL (ECR and STS alike) and
// an HTTP client that trusts CAPEM and uses no proxy (Close closes its idle
// connections). Retry settings are left to the SDK defaults.
func (s *Server) AWSConfig(region string, creds aws.CredentialsProvider) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  creds,
		BaseEndpoint: aws.String(s.URL),
		HTTPClient:   s.client,
	}
}

// SetTokenTTL sets the lifetime of the tokens issued from now on; 0 means 12h.
// A negative TTL issues tokens that have already expired.
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	s.ttl = d
	s.mu.Unlock()
}

// SetLatency sets the delay added before answering every request.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// SetNow sets the clock used for expiresAt and Issued.At; nil restores time.Now.
// Temporary STS credentials and their expiry follow the wall clock, like the
// SDK's credential cache, whatever this clock says.
func (s *Server) SetNow(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

var (
	accountRe = regexp.MustCompile(`^[0-9]{12}$`)
	// arn:<partition>:iam::<account>:role/<path/><name>
	roleARNRe = regexp.MustCompile(`^arn:(aws[a-z-]*):iam::([0-9]{12}):role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})$`)
)

// AddKey registers a long-term IAM user key of that 12-digit account
// (replacing any key with that id). It panics on an empty key or secret or a
// malformed account: that is a bug in the test.
func (s *Server) AddKey(accessKeyID, secretAccessKey, account string) {
	if accessKeyID == "" || secretAccessKey == "" {
		panic("ecrtest: AddKey needs an access key id and a secret")
	}
	if !accountRe.MatchString(account) {
		panic(fmt.Sprintf("ecrtest: AddKey: account %q is not 12 digits", account))
	}
	s.mu.Lock()
	s.keys[accessKeyID] = &principal{
		accessKeyID: accessKeyID,
		secret:      secretAccessKey,
		account:     account,
		arn:         "arn:aws:iam::" + account + ":user/ecrtest",
	}
	s.mu.Unlock()
}

// RemoveKey forgets a key (long-term or temporary), as if it had been deleted
// in IAM: requests signed with it get UnrecognizedClientException.
func (s *Server) RemoveKey(accessKeyID string) {
	s.mu.Lock()
	delete(s.keys, accessKeyID)
	s.mu.Unlock()
}

// AddRole registers a role that AssumeRole / AssumeRoleWithWebIdentity may
// assume; the temporary keys issued for it are accepted by ECR with the role's
// account. It panics on a malformed role ARN.
func (s *Server) AddRole(roleARN string) {
	m := roleARNRe.FindStringSubmatch(roleARN)
	if m == nil {
		panic(fmt.Sprintf("ecrtest: AddRole: %q is not a role ARN (arn:aws:iam::123456789012:role/name)", roleARN))
	}
	s.mu.Lock()
	s.roles[roleARN] = role{arn: roleARN, partition: m[1], account: m[2], name: m[3]}
	s.mu.Unlock()
}

// ExpireSessions makes every temporary key issued so far expired: requests
// signed with them get ExpiredTokenException (ECR) or ExpiredToken (STS).
func (s *Server) ExpireSessions() {
	past := time.Now().Add(-time.Second)
	s.mu.Lock()
	for _, p := range s.keys {
		if p.temporary {
			p.expires = past
		}
	}
	s.mu.Unlock()
}

// Issued returns every token issued, in order.
func (s *Server) Issued() []Issued {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Issued(nil), s.issued...)
}

// Passwords returns every password ever issued, in order.
func (s *Server) Passwords() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.issued))
	for i, is := range s.issued {
		out[i] = is.Password
	}
	return out
}

// Calls returns how many GetAuthorizationToken requests were received since
// the start or ResetCalls, whatever their outcome (errors, faults, drops and
// hangs included).
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// CallsIn is Calls for one region (the region of the SigV4 credential scope;
// "" for requests without a readable one).
func (s *Server) CallsIn(region string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callsIn[region]
}

// Assumed returns the role ARNs assumed (AssumeRole and
// AssumeRoleWithWebIdentity answered successfully), in order: one per request
// answered, retries included (see Assumptions).
func (s *Server) Assumed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	arns := make([]string, len(s.assumed))
	for i, a := range s.assumed {
		arns[i] = a.RoleARN
	}
	return arns
}

// Assumption is one role assumption the server answered.
type Assumption struct {
	RoleARN string
	// Invocation is the request's Amz-Sdk-Invocation-Id: the AWS SDK gives
	// each operation one, and sends it again with every retry of the
	// operation (after a dropped connection, say). "" when the client sent
	// none.
	Invocation string
}

// Assumptions returns the role assumptions answered, in order, with the
// invocation of each: a test can count operations rather than requests.
func (s *Server) Assumptions() []Assumption {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Assumption(nil), s.assumed...)
}

// ResetCalls sets Calls and CallsIn back to zero. Issued and Assumed are kept
// (see ResetIssued).
func (s *Server) ResetCalls() {
	s.mu.Lock()
	s.calls = 0
	s.callsIn = make(map[string]int)
	s.mu.Unlock()
}

// ResetIssued forgets the records behind Issued, Passwords and Assumed, e.g.
// between benchmark rounds. Issued keys stay valid.
func (s *Server) ResetIssued() {
	s.mu.Lock()
	s.issued = nil
	s.assumed = nil
	s.mu.Unlock()
}

// AddFault appends a fault; see Fault.
func (s *Server) AddFault(f Fault) {
	left := f.Times
	if left <= 0 {
		left = -1
	}
	s.mu.Lock()
	s.faults = append(s.faults, &faultEntry{f: f, left: left})
	s.mu.Unlock()
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// takeFault returns the first fault matching the request and counts it down.
func (s *Server) takeFault(action, region string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.faults {
		if (e.f.Region != "" && e.f.Region != region) || (e.f.Action != "" && e.f.Action != action) {
			continue
		}
		if e.left > 0 {
			e.left--
			if e.left == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return e.f, true
	}
	return Fault{}, false
}

func (s *Server) settings() (ttl, latency time.Duration, now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ttl = s.ttl
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	return ttl, s.latency, s.now
}

func (s *Server) lookupKey(accessKeyID string) (principal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.keys[accessKeyID]
	if !ok {
		return principal{}, false
	}
	return *p, true
}

// enter registers a running handler; false once Close has begun.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

// wait sleeps for d; false if the client went away or the server is closing.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-s.done:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// request is what the handlers need about one request.
type request struct {
	r      *http.Request
	body   []byte
	id     string     // X-Amzn-RequestId
	auth   authHeader // parsed Authorization, possibly partial
	authOK bool
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		standin.Drop(w)
		return
	}
	defer s.inflight.Done()

	req := &request{r: r, id: newRequestID()}
	w.Header().Set("X-Amzn-RequestId", req.id)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.answerJSONError(w, req, 400, "SerializationException", "Unable to read the request body.")
		return
	}
	req.body = body
	req.auth, req.authOK = parseAuthorization(r.Header.Get("Authorization"))

	if r.Header.Get("X-Amz-Target") != "" {
		s.serveECR(w, req)
		return
	}
	if form, ok := queryForm(r, body); ok && form.Get("Action") != "" {
		s.serveSTS(w, req, form)
		return
	}
	s.answerJSONError(w, req, 400, "UnknownOperationException", "")
}

// prelude does what every known action shares: the fault, Latency and Delay,
// Hang, Drop and Redirect. It returns false when the request has been dealt with.
func (s *Server) prelude(w http.ResponseWriter, req *request, action string) (Fault, bool) {
	f, _ := s.takeFault(action, req.auth.region)
	_, latency, _ := s.settings()
	if !s.wait(req.r.Context(), latency+f.Delay) {
		standin.Drop(w)
		return f, false
	}
	if f.Hang {
		select {
		case <-req.r.Context().Done():
		case <-s.done:
		}
		standin.Drop(w)
		return f, false
	}
	if f.Drop {
		standin.Drop(w)
		return f, false
	}
	if f.Redirect != "" {
		w.Header().Set("Location", f.Redirect)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return f, false
	}
	return f, true
}

// answerJSONError waits the latency, then answers an AWS JSON 1.1 error.
func (s *Server) answerJSONError(w http.ResponseWriter, req *request, status int, code, msg string) {
	_, latency, _ := s.settings()
	if !s.wait(req.r.Context(), latency) {
		standin.Drop(w)
		return
	}
	writeJSONError(w, status, code, msg)
}

// newRequestID returns a random UUID, the shape of AWS request ids.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// statusFor is the HTTP status AWS answers with an error code.
func statusFor(code string) int {
	switch code {
	case "ServerException", "InternalFailure", "InternalServerError", "InternalError", "ServiceFailure":
		return 500
	case "ServiceUnavailable", "ServiceUnavailableException":
		return 503
	case "InvalidSignatureException", "SignatureDoesNotMatch", "AccessDenied", "InvalidClientTokenId",
		"MissingAuthenticationToken", "RegionDisabledException", "OptInRequired":
		return 403
	}
	if strings.HasPrefix(code, "Internal") {
		return 500
	}
	return 400
}

// faultStatus is the status of an error fault's answer.
func faultStatus(f Fault) int {
	if f.Status != 0 {
		return f.Status
	}
	return statusFor(f.Code)
}
