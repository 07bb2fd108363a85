package rancher

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// origin pins every request that carries the Rancher key to the CATTLE_URL origin: its scheme, host and port,
// and the path prefix Rancher is served under. It is the one place where a URL that Rancher sent becomes a URL
// the updater requests.
//
// Why: Rancher's answers are full of absolute URLs (the X-API-Schemas header, the collection and self links of
// the schemas, pagination.next, a resource's links.self and its action links), which go-rancher follows as
// given. Cattle builds them from its api.host setting, or from the Host and X-Forwarded-* headers a proxy passes,
// so in many installations they name another host or scheme than the address the updater reaches Rancher at;
// and a hostile or broken server can name any host at all. Following them would send the API key (Basic auth)
// and the ECR passwords to that host, and an http:// link under an https CATTLE_URL would send both in clear
// text. So every link is used for its path and query only, resolved against the configured origin: installations
// whose links name another host keep working, https is never downgraded, and nothing that carries the key
// leaves the origin. The router in gorancher.go is the second line: it refuses any request that carries a
// registered key to an origin that no Server registered, and the route's transport refuses redirects.
type origin struct {
	scheme, host string // lower-case; host with its port when CATTLE_URL gave one
	prefix       string // escaped path prefix Rancher is served under, "" or "/x/y" (no trailing slash)
}

// newOrigin takes the origin of a parsed CATTLE_URL.
func newOrigin(ep Endpoint) (origin, error) {
	u, err := url.Parse(ep.Origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return origin{}, errors.New("not an http or https URL")
	}
	return origin{
		scheme: strings.ToLower(u.Scheme),
		host:   strings.ToLower(u.Host),
		prefix: strings.TrimRight(u.EscapedPath(), "/"),
	}, nil
}

// String is scheme://host[:port], the key of the origin's route.
func (o origin) String() string { return o.scheme + "://" + o.host }

// maxLinkLen bounds a link from Rancher: Cattle's longest are well under 1 KiB.
const maxLinkLen = 8 << 10

// pin returns the URL to request for a link Rancher sent: the link's path and query on the configured scheme,
// host and port. A link whose path does not start with the configured path prefix gets it (Cattle does not know
// the prefix a proxy serves it under). A link that is not an absolute or root-relative http(s) URL is an error,
// as is one with no path.
func (o origin) pin(link string) (string, error) {
	if link == "" {
		return "", errors.New("rancher sent an empty link")
	}
	if len(link) > maxLinkLen {
		return "", fmt.Errorf("rancher sent a link of %d bytes", len(link))
	}
	u, err := url.Parse(link)
	if err != nil {
		return "", errors.New("rancher sent a link that is not a URL")
	}
	if u.Scheme != "" && !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https") {
		return "", fmt.Errorf("rancher sent a link with scheme %q", truncate(u.Scheme))
	}
	path := u.EscapedPath()
	if u.Opaque != "" || !strings.HasPrefix(path, "/") {
		return "", errors.New("rancher sent a link without an absolute path")
	}
	if o.prefix != "" && path != o.prefix && !strings.HasPrefix(path, o.prefix+"/") {
		path = o.prefix + path
	}
	out := o.scheme + "://" + o.host + path
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out, nil
}
