package ecrtest

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/xml"
	"net/http"
	"strings"
)

// ActionGetCallerIdentity is STS GetCallerIdentity, which every principal may call: it answers who signed the
// request (the key's account and ARN; for a role session, the assumed-role ARN).
const ActionGetCallerIdentity = "GetCallerIdentity"

type getCallerIdentityResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetCallerIdentityResponse"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

// serveCallerIdentity answers GetCallerIdentity: faults first (as for every action), then SigV4 authentication.
func (s *Server) serveCallerIdentity(w http.ResponseWriter, req *request) {
	f, ok := s.prelude(w, req, ActionGetCallerIdentity)
	if !ok {
		return
	}
	if f.isError() {
		writeXMLError(w, req.id, faultStatus(f), f.Code, s.faultMessage(req, f.Code, ActionGetCallerIdentity, ""))
		return
	}
	p, aerr := s.authenticate(req, "sts", queryAuthCodes)
	if aerr != nil {
		writeXMLError(w, req.id, aerr.status, aerr.code, aerr.message)
		return
	}
	var out getCallerIdentityResponse
	out.Result.Arn, out.Result.Account, out.RequestID = p.arn, p.account, req.id
	out.Result.UserID = uniqueID("AIDA", p.accessKeyID)
	if p.temporary {
		// arn:aws:sts::<account>:assumed-role/<role>/<session>
		parts := strings.Split(p.arn, "/")
		role, session := parts[len(parts)-2], parts[len(parts)-1]
		out.Result.UserID = uniqueID("AROA", p.account+role) + ":" + session
	}
	writeXML(w, 200, out)
}

// uniqueID is an IAM unique id (AIDA... for users, AROA... for roles), stable for a name.
func uniqueID(prefix, name string) string {
	sum := sha256.Sum256([]byte(name))
	return prefix + strings.TrimRight(base32.StdEncoding.EncodeToString(sum[:10]), "=")
}
