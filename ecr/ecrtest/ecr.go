package ecrtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	ecrTargetPrefix = "AmazonEC2ContainerRegistry_V20150921."
	jsonContentType = "application/x-amz-json-1.1"
)

// Sizes of the random parts of a password, chosen so that passwords are as
// long as real ones (~1,600 base64 characters).
const (
	payloadBytes = 640
	datakeyBytes = 184
)

func (s *Server) serveECR(w http.ResponseWriter, req *request) {
	r := req.r
	op, found := strings.CutPrefix(r.Header.Get("X-Amz-Target"), ecrTargetPrefix)
	if !found || op != ActionGetAuthorizationToken {
		s.answerJSONError(w, req, 400, "UnknownOperationException", "")
		return
	}
	region := req.auth.region
	s.mu.Lock()
	s.calls++
	s.callsIn[region]++
	s.mu.Unlock()

	f, ok := s.prelude(w, req, ActionGetAuthorizationToken)
	if !ok {
		return
	}
	if f.isError() {
		writeJSONError(w, faultStatus(f), f.Code, s.faultMessage(req, f.Code, ActionGetAuthorizationToken, ""))
		return
	}

	p, aerr := s.authenticate(req, "ecr", jsonAuthCodes)
	if aerr != nil {
		writeJSONError(w, aerr.status, aerr.code, aerr.message)
		return
	}
	accounts, aerr := tokenAccounts(req, p.account)
	if aerr != nil {
		writeJSONError(w, aerr.status, aerr.code, aerr.message)
		return
	}

	ttl, _, now := s.settings()
	g := tokenGrant{region: region, accessKeyID: p.accessKeyID, at: now()}
	g.expires = time.UnixMilli(g.at.Add(ttl).UnixMilli()).UTC()
	g.expiresWire = javaDouble(float64(g.expires.UnixMilli()) / 1000)
	out := struct {
		AuthorizationData []authorizationData `json:"authorizationData"`
	}{AuthorizationData: []authorizationData{}}
	var issued []Issued
	if !f.Empty {
		out.AuthorizationData, issued = g.authorizations(&f, accounts)
	}
	if len(issued) > 0 {
		s.mu.Lock()
		s.issued = append(s.issued, issued...)
		s.mu.Unlock()
	}
	writeJSON(w, 200, out)
}

// tokenAccounts reads a GetAuthorizationToken request's body: the accounts it asks tokens for (registryIds), the
// caller's own account when it names none.
func tokenAccounts(req *request, own string) ([]string, *apiError) {
	if mt, _, err := mime.ParseMediaType(req.r.Header.Get("Content-Type")); err != nil || mt != jsonContentType {
		return nil, &apiError{status: 400, code: "SerializationException"}
	}
	var in struct {
		RegistryIDs *[]string `json:"registryIds"`
	}
	if len(req.body) > 0 {
		if err := json.Unmarshal(req.body, &in); err != nil {
			return nil, &apiError{status: 400, code: "SerializationException"}
		}
	}
	if in.RegistryIDs == nil {
		return []string{own}, nil
	}
	ids := *in.RegistryIDs
	if len(ids) < 1 || len(ids) > 10 {
		return nil, &apiError{status: 400, code: "InvalidParameterException",
			message: "Invalid parameter at 'registryIds' failed to satisfy constraint: 'Member must have length between 1 and 10'"}
	}
	for _, id := range ids {
		if !accountRe.MatchString(id) {
			return nil, &apiError{status: 400, code: "InvalidParameterException",
				message: "Invalid parameter at 'registryIds' failed to satisfy constraint: " +
					"'Member must satisfy regular expression pattern: [0-9]{12}'"}
		}
	}
	return ids, nil
}

// authorizationData is one account's token in a GetAuthorizationToken answer.
type authorizationData struct {
	AuthorizationToken string      `json:"authorizationToken"`
	ExpiresAt          json.Number `json:"expiresAt,omitempty"`
	ProxyEndpoint      string      `json:"proxyEndpoint,omitempty"`
}

// tokenGrant is what the tokens of one GetAuthorizationToken answer share.
type tokenGrant struct {
	region, accessKeyID string
	at, expires         time.Time
	expiresWire         string // expires as the answer writes it
}

// authorizations gives a token to each account, shaped by the fault f; issued is the tokens the stand-in made
// (none when f names the token).
func (g *tokenGrant) authorizations(f *Fault, accounts []string) (data []authorizationData, issued []Issued) {
	data = make([]authorizationData, 0, len(accounts))
	for _, account := range accounts {
		d := authorizationData{}
		if !f.OmitExpiresAt {
			d.ExpiresAt = json.Number(g.expiresWire)
		}
		if !f.OmitProxyEndpoint {
			d.ProxyEndpoint = "https://" + account + ".dkr.ecr." + g.region + "." + dnsSuffix(g.region)
		}
		d.AuthorizationToken = f.Token
		if f.Token == "" {
			is := g.issue(account)
			d.AuthorizationToken = is.Token
			issued = append(issued, is)
		}
		data = append(data, d)
	}
	return data, issued
}

// issue makes a new token for account.
func (g *tokenGrant) issue(account string) Issued {
	password := newPassword(g.expires)
	return Issued{
		Region:      g.region,
		Account:     account,
		AccessKeyID: g.accessKeyID,
		Password:    password,
		Token:       base64.StdEncoding.EncodeToString([]byte("AWS:" + password)),
		ExpiresAt:   g.expires,
		At:          g.at,
	}
}

// faultMessage is the message AWS sends with an error code.
func (s *Server) faultMessage(req *request, code, action, roleARN string) string {
	switch code {
	case "ThrottlingException", "Throttling":
		return "Rate exceeded"
	case "ServerException", "InternalFailure":
		return "We encountered an internal error. Please try again."
	case "ServiceUnavailable", "ServiceUnavailableException":
		return "Service is unavailable. Please try again later."
	case "ExpiredTokenException", "ExpiredToken":
		return msgExpiredToken
	case "UnrecognizedClientException", "InvalidClientTokenId":
		return msgInvalidToken
	case "InvalidSignatureException", "SignatureDoesNotMatch":
		return msgBadSignature
	case "InvalidParameterException":
		return "Invalid parameter at 'registryIds' failed to satisfy constraint: " +
			"'Member must satisfy regular expression pattern: [0-9]{12}'"
	case "AccessDeniedException", "AccessDenied":
		caller := "arn:aws:iam::123456789012:user/ecrtest"
		if p, ok := s.lookupKey(req.auth.accessKeyID); ok {
			caller = p.arn
		}
		switch action {
		case ActionGetAuthorizationToken:
			return "User: " + caller + " is not authorized to perform: ecr:GetAuthorizationToken on resource: * " +
				"because no identity-based policy allows the ecr:GetAuthorizationToken action"
		case ActionAssumeRoleWithWebIdentity:
			return "Not authorized to perform sts:AssumeRoleWithWebIdentity"
		default:
			return "User: " + caller + " is not authorized to perform: sts:AssumeRole on resource: " + roleARN
		}
	case "":
		return ""
	}
	return code
}

// dnsSuffix is the DNS suffix of the partition a region belongs to.
func dnsSuffix(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "amazonaws.com.cn"
	case strings.HasPrefix(region, "us-isob-"):
		return "sc2s.sgov.gov"
	case strings.HasPrefix(region, "us-isof-"):
		return "csp.hci.ic.gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "c2s.ic.gov"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "cloud.adc-e.uk"
	case strings.HasPrefix(region, "eusc-"):
		return "amazonaws.eu"
	}
	return "amazonaws.com"
}

// newPassword returns a random password shaped like ECR's: the base64 of a
// JSON document carrying an encrypted payload and data key.
func newPassword(expires time.Time) string {
	var b [payloadBytes + datakeyBytes]byte
	_, _ = rand.Read(b[:])
	doc := `{"payload":"` + base64.StdEncoding.EncodeToString(b[:payloadBytes]) +
		`","datakey":"` + base64.StdEncoding.EncodeToString(b[payloadBytes:]) +
		`","version":"2","type":"DATA_KEY","expiration":` + strconv.FormatInt(expires.Unix(), 10) + `}`
	return base64.StdEncoding.EncodeToString([]byte(doc))
}

// javaDouble formats v as AWS's Java services print epoch seconds: 1.712345678123E9.
func javaDouble(v float64) string {
	s := strconv.FormatFloat(v, 'E', -1, 64) // 1.712345678123E+09
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(exp, "+-")
	exp = strings.TrimLeft(exp, "0")
	if exp == "" {
		return mant
	}
	if neg {
		exp = "-" + exp
	}
	return mant + "E" + exp
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = 500, []byte(`{"__type":"ServerException","message":"ecrtest: encode answer"}`)
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeJSONError answers an AWS JSON 1.1 error; an empty code sends none.
func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Amzn-ErrorType", code)
	}
	if msg == "" && code == "" {
		msg = http.StatusText(status)
	}
	writeJSON(w, status, struct {
		Type    string `json:"__type,omitempty"`
		Message string `json:"message,omitempty"`
	}{code, msg})
}
