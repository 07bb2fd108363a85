package ecrtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// IMDS is an EC2 instance metadata service stand-in for the one thing the SDK asks it on a host without keys:
// the instance role's credentials. Point the SDK at it with AWS_EC2_METADATA_SERVICE_ENDPOINT=URL.
//
//   - PUT /latest/api/token (IMDSv2) answers a session token, or TokenStatus when set (403: an instance whose
//     IMDS refuses the token request, which makes the SDK fall back to IMDSv1);
//   - GET /latest/meta-data/iam/security-credentials/ lists the role, and .../<role> answers its credentials (valid
//     6 hours) in the instance metadata's JSON, with or without the token;
//   - every other request answers 404; with Redirect set, every request answers 307 to it.
type IMDS struct {
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	opts     IMDSOptions
	requests []string
}

// IMDSOptions shape the IMDS stand-in's answers.
type IMDSOptions struct {
	Role                   string // the instance role's name; "" means "ecrtest-instance-role"
	AccessKeyID, SecretKey string // the role's credentials (register them with AddKey to make ECR accept them)
	TokenStatus            int    // when not 0, the status of every PUT /latest/api/token
	Redirect               string // when set, every request answers 307 Temporary Redirect to this Location
}

// NewIMDS starts an IMDS stand-in on 127.0.0.1 over HTTP, as IMDS is; Close it when done.
func NewIMDS(opts IMDSOptions) *IMDS {
	if opts.Role == "" {
		opts.Role = "ecrtest-instance-role"
	}
	m := &IMDS{opts: opts}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	m.URL = m.srv.URL
	return m
}

// Close stops the stand-in.
func (m *IMDS) Close() { m.srv.Close() }

// Requests returns "<method> <path>" of every request received, in order.
func (m *IMDS) Requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.requests...)
}

const imdsCredentialsPath = "/latest/meta-data/iam/security-credentials/"

func (m *IMDS) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.requests = append(m.requests, r.Method+" "+r.URL.Path)
	o := m.opts
	m.mu.Unlock()
	switch {
	case o.Redirect != "":
		w.Header().Set("Location", o.Redirect)
		w.WriteHeader(http.StatusTemporaryRedirect)
	case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
		if o.TokenStatus != 0 {
			http.Error(w, http.StatusText(o.TokenStatus), o.TokenStatus)
			return
		}
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
		_, _ = w.Write([]byte("ecrtest-imds-session-token"))
	case r.Method == http.MethodGet && r.URL.Path == imdsCredentialsPath:
		_, _ = w.Write([]byte(o.Role))
	case r.Method == http.MethodGet && r.URL.Path == imdsCredentialsPath+o.Role:
		now := time.Now().UTC()
		w.Header().Set("Content-Type", "text/plain")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"Code": "Success", "Type": "AWS-HMAC", "LastUpdated": now.Format(time.RFC3339),
			"AccessKeyId": o.AccessKeyID, "SecretAccessKey": o.SecretKey, "Token": "",
			"Expiration": now.Add(6 * time.Hour).Format(time.RFC3339),
		})
	default:
		http.NotFound(w, r)
	}
}
