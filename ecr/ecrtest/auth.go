package ecrtest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
	scopeDate      = "20060102"
)

// authHeader is a parsed SigV4 Authorization header. Fields are filled as far
// as they could be read, so that the region is known even for bad headers.
type authHeader struct {
	accessKeyID   string
	date          string // YYYYMMDD of the credential scope
	region        string
	service       string
	signedHeaders string
	signature     string
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/ecr/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=hex"; ok is false unless every part is there.
func parseAuthorization(v string) (a authHeader, ok bool) {
	rest, found := strings.CutPrefix(v, sigV4Algorithm+" ")
	if !found {
		return a, false
	}
	var credential string
	for _, part := range strings.Split(rest, ",") {
		k, val, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			continue
		}
		switch k {
		case "Credential":
			credential = val
		case "SignedHeaders":
			a.signedHeaders = val
		case "Signature":
			a.signature = val
		}
	}
	scope := strings.Split(credential, "/")
	if len(scope) == 5 {
		a.accessKeyID, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]
	}
	ok = len(scope) == 5 && scope[4] == "aws4_request" && a.accessKeyID != "" && a.date != "" &&
		a.region != "" && a.service != "" && a.signedHeaders != "" && a.signature != ""
	return a, ok
}

// apiError is an AWS error answer.
type apiError struct {
	status  int
	code    string
	message string
}

// authCodes names the authentication errors of one protocol family.
type authCodes struct {
	missing, incomplete, unrecognized, badSignature, expired string
}

var (
	jsonAuthCodes = authCodes{
		missing:      "MissingAuthenticationTokenException",
		incomplete:   "IncompleteSignatureException",
		unrecognized: "UnrecognizedClientException",
		badSignature: "InvalidSignatureException",
		expired:      "ExpiredTokenException",
	}
	queryAuthCodes = authCodes{
		missing:      "MissingAuthenticationToken",
		incomplete:   "IncompleteSignature",
		unrecognized: "InvalidClientTokenId",
		badSignature: "SignatureDoesNotMatch",
		expired:      "ExpiredToken",
	}
)

const (
	msgInvalidToken = "The security token included in the request is invalid."
	msgExpiredToken = "The security token included in the request is expired"
	msgBadSignature = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

// authenticate checks the SigV4 signature of a request for service ("ecr" or
// "sts") and returns the principal that signed it.
func (s *Server) authenticate(req *request, service string, codes authCodes) (principal, *apiError) {
	r := req.r
	raw := r.Header.Get("Authorization")
	if raw == "" {
		msg := "Missing Authentication Token"
		if service == "sts" {
			msg = "Request is missing Authentication Token"
		}
		return principal{}, &apiError{statusFor(codes.missing), codes.missing, msg}
	}
	a := req.auth
	if !req.authOK {
		return principal{}, &apiError{400, codes.incomplete,
			"Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. " +
				"Authorization header requires 'SignedHeaders' parameter. Authorization=" + firstWord(raw)}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return principal{}, &apiError{400, codes.incomplete,
			"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=" + firstWord(raw)}
	}

	p, known := s.lookupKey(a.accessKeyID)
	if !known {
		return principal{}, &apiError{statusFor(codes.unrecognized), codes.unrecognized, msgInvalidToken}
	}
	token := r.Header.Get("X-Amz-Security-Token")
	if p.temporary {
		if subtle.ConstantTimeCompare([]byte(token), []byte(p.sessionToken)) != 1 {
			return principal{}, &apiError{statusFor(codes.unrecognized), codes.unrecognized, msgInvalidToken}
		}
	} else if token != "" {
		return principal{}, &apiError{statusFor(codes.unrecognized), codes.unrecognized, msgInvalidToken}
	}

	bad := func(msg string) (principal, *apiError) {
		return principal{}, &apiError{statusFor(codes.badSignature), codes.badSignature, msg}
	}
	if a.service != service {
		return bad("Credential should be scoped to correct service: '" + service + "'. ")
	}
	if a.date != t.Format(scopeDate) {
		return bad("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" +
			a.date + "' != '" + t.Format(scopeDate) + "', from 'x-amz-date'.")
	}
	want, ok := s.expectedAuthorization(req, a, p.secret, t)
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(raw)) != 1 {
		return bad(msgBadSignature)
	}
	if p.temporary && !time.Now().Before(p.expires) {
		return principal{}, &apiError{400, codes.expired, msgExpiredToken}
	}
	return p, nil
}

// expectedAuthorization rebuilds the request from the headers it claims to
// have signed and signs it again with the stored secret at the X-Amz-Date time.
func (s *Server) expectedAuthorization(req *request, a authHeader, secret string, t time.Time) (string, bool) {
	r := req.r
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	vr := &http.Request{
		Method: r.Method,
		URL: &url.URL{
			Scheme:   scheme,
			Host:     r.Host,
			Path:     r.URL.Path,
			RawPath:  r.URL.RawPath,
			RawQuery: r.URL.RawQuery,
		},
		Host:   r.Host,
		Header: make(http.Header),
	}
	for _, h := range strings.Split(a.signedHeaders, ";") {
		switch h {
		case "host":
		case "content-length":
			vr.ContentLength = r.ContentLength
		default:
			if vals := r.Header.Values(h); len(vals) > 0 {
				// A copy: the signer rewrites some values in place.
				vr.Header[textproto.CanonicalMIMEHeaderKey(h)] = append([]string(nil), vals...)
			}
		}
	}
	sum := sha256.Sum256(req.body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		if h != "UNSIGNED-PAYLOAD" && h != payloadHash {
			return "", false
		}
		payloadHash = h
	}
	creds := aws.Credentials{AccessKeyID: a.accessKeyID, SecretAccessKey: secret}
	if err := s.signer.SignHTTP(r.Context(), creds, vr, payloadHash, a.service, a.region, t); err != nil {
		return "", false
	}
	return vr.Header.Get("Authorization"), true
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}
