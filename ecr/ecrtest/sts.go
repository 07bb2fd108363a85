package ecrtest

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ecr-updater/ecr-updater/internal/standin"
)

const (
	stsVersion   = "2011-06-15"
	stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
	// defaultSessionDuration is STS's default DurationSeconds.
	defaultSessionDuration = 3600
)

var sessionNameRe = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// queryForm returns the query-protocol parameters of a request: the form body
// (when it is one) and the URL query.
func queryForm(r *http.Request, body []byte) (url.Values, bool) {
	vals := url.Values{}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, false
		}
		vals = v
	}
	for k, v := range r.URL.Query() {
		vals[k] = append(vals[k], v...)
	}
	return vals, true
}

func (s *Server) serveSTS(w http.ResponseWriter, req *request, form url.Values) {
	action, version := form.Get("Action"), form.Get("Version")
	if action == ActionGetCallerIdentity && version == stsVersion {
		s.serveCallerIdentity(w, req) // identity.go
		return
	}
	if (action != ActionAssumeRole && action != ActionAssumeRoleWithWebIdentity) || version != stsVersion {
		s.invalidAction(w, req, action, version)
		return
	}
	f, ok := s.prelude(w, req, action)
	if !ok {
		return
	}
	if f.isError() {
		writeXMLError(w, req.id, faultStatus(f), f.Code, s.faultMessage(req, f.Code, action, form.Get("RoleArn")))
		return
	}
	if action == ActionAssumeRole {
		// AssumeRoleWithWebIdentity is unsigned: the web identity token is the credential.
		if _, aerr := s.authenticate(req, "sts", queryAuthCodes); aerr != nil {
			writeXMLError(w, req.id, aerr.status, aerr.code, aerr.message)
			return
		}
	}
	a, invalid := parseAssume(action, form)
	if invalid != "" {
		writeXMLError(w, req.id, 400, "ValidationError", "1 validation error detected: "+invalid)
		return
	}
	s.mu.Lock()
	rl, known := s.roles[a.roleARN]
	s.mu.Unlock()
	if !known {
		writeXMLError(w, req.id, 403, "AccessDenied", s.faultMessage(req, "AccessDenied", action, a.roleARN))
		return
	}
	s.assumeRole(w, req, a, rl)
}

// invalidAction answers an action STS does not have (after the latency, as STS would).
func (s *Server) invalidAction(w http.ResponseWriter, req *request, action, version string) {
	_, latency, _ := s.settings()
	if !s.wait(req.r.Context(), latency) {
		standin.Drop(w)
		return
	}
	writeXMLError(w, req.id, 400, "InvalidAction", "Could not find operation "+action+" for version "+version)
}

// assumeRequest is what an AssumeRole or AssumeRoleWithWebIdentity request asks for.
type assumeRequest struct {
	action, roleARN, session, webToken string
	duration                           int // seconds
}

// parseAssume reads the parameters of an AssumeRole or AssumeRoleWithWebIdentity request and checks them in STS's
// order; invalid is the message of the first that fails, "" when all are valid.
func parseAssume(action string, form url.Values) (a assumeRequest, invalid string) {
	a = assumeRequest{action: action, roleARN: form.Get("RoleArn"), session: form.Get("RoleSessionName"),
		webToken: form.Get("WebIdentityToken"), duration: defaultSessionDuration}
	switch {
	case a.roleARN == "":
		return a, "Value null at 'roleArn' failed to satisfy constraint: Member must not be null"
	case a.session == "":
		return a, "Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"
	case !sessionNameRe.MatchString(a.session):
		return a, "Value '" + a.session + "' at 'roleSessionName' failed to satisfy constraint: " +
			"Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64"
	}
	if v := form.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 || n > 43200 {
			return a, "Value '" + v + "' at 'durationSeconds' failed to satisfy constraint: " +
				"Member must have value between 900 and 43200"
		}
		a.duration = n
	}
	if action == ActionAssumeRoleWithWebIdentity && len(a.webToken) < 4 {
		return a, "Value null at 'webIdentityToken' failed to satisfy constraint: Member must have length greater than or equal to 4"
	}
	return a, ""
}

// assumeRole starts a session of role rl, whose temporary key then authenticates, and answers its credentials.
func (s *Server) assumeRole(w http.ResponseWriter, req *request, a assumeRequest, rl role) {
	expires := time.Now().Add(time.Duration(a.duration) * time.Second).UTC().Truncate(time.Second)
	p := &principal{
		accessKeyID:  "ASIA" + randomBase32(10),
		secret:       randomBase64(30),
		sessionToken: "IQoJb3JpZ2luX2VjE" + randomBase64(300),
		account:      rl.account,
		arn:          "arn:" + rl.partition + ":sts::" + rl.account + ":assumed-role/" + rl.name + "/" + a.session,
		temporary:    true,
		expires:      expires,
	}
	s.mu.Lock()
	s.keys[p.accessKeyID] = p
	s.assumed = append(s.assumed, Assumption{RoleARN: a.roleARN, Invocation: req.r.Header.Get("Amz-Sdk-Invocation-Id")})
	s.mu.Unlock()

	creds := stsCredentials{
		AccessKeyID:     p.accessKeyID,
		SecretAccessKey: p.secret,
		SessionToken:    p.sessionToken,
		Expiration:      expires.Format(time.RFC3339),
	}
	user := assumedRoleUser{AssumedRoleID: "AROA" + randomBase32(10) + ":" + a.session, Arn: p.arn}
	if a.action == ActionAssumeRole {
		var out assumeRoleResponse
		out.Result.Credentials, out.Result.AssumedRoleUser, out.RequestID = creds, user, req.id
		writeXML(w, 200, out)
		return
	}
	sub, aud, iss := jwtClaims(a.webToken)
	var out assumeRoleWithWebIdentityResponse
	out.Result.Credentials, out.Result.AssumedRoleUser, out.RequestID = creds, user, req.id
	out.Result.SubjectFromWebIdentityToken = sub
	out.Result.Audience = aud
	out.Result.Provider = "arn:" + rl.partition + ":iam::" + rl.account + ":oidc-provider/" + strings.TrimPrefix(iss, "https://")
	writeXML(w, 200, out)
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type assumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	Arn           string `xml:"Arn"`
}

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleResponse"`
	Result  struct {
		Credentials     stsCredentials  `xml:"Credentials"`
		AssumedRoleUser assumedRoleUser `xml:"AssumedRoleUser"`
	} `xml:"AssumeRoleResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type assumeRoleWithWebIdentityResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleWithWebIdentityResponse"`
	Result  struct {
		Credentials                 stsCredentials  `xml:"Credentials"`
		SubjectFromWebIdentityToken string          `xml:"SubjectFromWebIdentityToken"`
		AssumedRoleUser             assumedRoleUser `xml:"AssumedRoleUser"`
		Provider                    string          `xml:"Provider"`
		Audience                    string          `xml:"Audience"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type stsErrorResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code,omitempty"`
		Message string `xml:"Message,omitempty"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// jwtClaims reads sub, aud and iss from a JWT without checking it; defaults
// stand in for what cannot be read.
func jwtClaims(token string) (sub, aud, iss string) {
	sub, aud, iss = "system:serviceaccount:default:ecrtest", "sts.amazonaws.com", "https://oidc.ecrtest.invalid"
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return
	}
	var c struct {
		Sub string `json:"sub"`
		Aud any    `json:"aud"`
		Iss string `json:"iss"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return
	}
	if c.Sub != "" {
		sub = c.Sub
	}
	if c.Iss != "" {
		iss = c.Iss
	}
	switch a := c.Aud.(type) {
	case string:
		aud = a
	case []any:
		if len(a) > 0 {
			if s, ok := a[0].(string); ok {
				aud = s
			}
		}
	}
	return
}

func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`<ErrorResponse xmlns="`+stsNamespace+`"><Error><Type>Receiver</Type><Code>InternalFailure</Code></Error></ErrorResponse>`)
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeXMLError answers an AWS query-protocol error; an empty code sends none.
func writeXMLError(w http.ResponseWriter, requestID string, status int, code, msg string) {
	var e stsErrorResponse
	e.Error.Type = "Sender"
	if status >= 500 {
		e.Error.Type = "Receiver"
	}
	if msg == "" && code == "" {
		msg = http.StatusText(status)
	}
	e.Error.Code, e.Error.Message, e.RequestID = code, msg, requestID
	writeXML(w, status, e)
}

func randomBase32(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.TrimRight(base32.StdEncoding.EncodeToString(b), "=")
}

func randomBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
