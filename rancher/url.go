package rancher

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Endpoint is a CATTLE_URL taken apart.
type Endpoint struct {
	// Origin is scheme://host[:port], with any path prefix Rancher is served under (rare, but some proxies do it).
	Origin string
	// Project is the environment id named by the URL (/v2-beta/projects/<id> or /v1/projects/<id>), or "".
	Project string
}

// Base is the v2-beta API root.
func (e Endpoint) Base() string { return e.Origin + "/v2-beta" }

// ProjectSchemas is the schemas URL of one environment's own scope. Cattle scopes a request to an environment
// only when the path has more than four segments, so this (and not /v2-beta/projects/<id>) is where an account
// key finds registry types it may write.
func (e Endpoint) ProjectSchemas(project string) string {
	return e.Base() + "/projects/" + url.PathEscape(project) + "/schemas"
}

// Redacted is the URL fit for output.
func (e Endpoint) String() string {
	if e.Project != "" {
		return e.Base() + "/projects/" + e.Project
	}
	return e.Base()
}

// ErrUserInfo is ParseURL's refusal of a URL with user information (the caller says where the keys go instead).
var ErrUserInfo = errors.New("it must not carry user information")

// apiPath matches the API part of every CATTLE_URL form a user has: "" (the root), /v1 (what Rancher injects into
// agent containers), /v2-beta, /v1/projects/<id>, /v2-beta/projects/<id> (an Environment API Endpoint), and the
// same followed by /schemas.
var apiPath = regexp.MustCompile(`^(.*?)/(?:(?:v1|v2-beta)(?:/projects/([^/]+))?(?:/schemas)?)?/*$`)

// ParseURL accepts any CATTLE_URL form: http://host:8080/v1 (agent containers), the server root, /v2-beta, or an
// Environment API Endpoint /v2-beta/projects/<id> (the UI also shows /v1/projects/<id>). It refuses URLs with
// user information, so that no secret ever travels in a URL that could be logged.
func ParseURL(raw string) (Endpoint, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return Endpoint{}, fmt.Errorf("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Endpoint{}, fmt.Errorf("scheme must be http or https, not %q", u.Scheme)
	}
	if u.Host == "" {
		return Endpoint{}, fmt.Errorf("no host")
	}
	if u.User != nil {
		return Endpoint{}, ErrUserInfo
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Endpoint{}, fmt.Errorf("it must not have a query or fragment")
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	m := apiPath.FindStringSubmatch(path)
	if m == nil {
		return Endpoint{}, fmt.Errorf("path %q is not a Rancher API path (/, /v1, /v2-beta or /v2-beta/projects/<id>)", u.Path)
	}
	prefix := m[1]
	if strings.Contains(prefix, "/v1/") || strings.Contains(prefix, "/v2-beta/") || strings.HasSuffix(prefix, "/v1") || strings.HasSuffix(prefix, "/v2-beta") {
		return Endpoint{}, fmt.Errorf("path %q is not a Rancher API path (/, /v1, /v2-beta or /v2-beta/projects/<id>)", u.Path)
	}
	project, err := url.PathUnescape(m[2])
	if err != nil {
		return Endpoint{}, fmt.Errorf("bad environment id in %q", u.Path)
	}
	return Endpoint{Origin: u.Scheme + "://" + strings.ToLower(u.Host) + prefix, Project: project}, nil
}
