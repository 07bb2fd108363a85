package ecr

import (
	"fmt"
	"net/http"
	"net/url"
)

// Redirects. No answer of AWS or of a registry is followed elsewhere: a request carries what must stay with the
// host it was made for (SigV4 headers with the session token, the web identity token in STS's body, AWS:<password>
// in a registry's Basic authorization), and net/http, like the SDK's own client, would follow a 307 or 308 with all
// of it, even from https:// to http:// on the same host.
//
// The SDK's HTTP client (a BuildableClient) follows 307 and 308 by a redirect policy of its own that cannot be
// replaced, and the SDK copies that client for IMDS, AWS_CA_BUNDLE and every API client. What every copy keeps is
// the transport's Proxy function, which net/http calls before it opens or reuses a connection for any request,
// including a redirect's; and a redirect's request is the only one that carries the Response that caused it. So
// the Proxy function is where a redirect is refused, before a byte of it is sent.

// RedirectError is a redirect that was refused.
type RedirectError struct {
	Status   int    // the status of the answer that asked for it
	Location string // where it pointed
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("refused to follow a %d redirect to %s: answers of AWS and of registries are never followed elsewhere", e.Status, e.Location)
}

// RetryableError tells the SDK's retryer not to try again: the same request would get the same answer.
func (e *RedirectError) RetryableError() bool { return false }

// refuseRedirects wraps a transport's Proxy function (nil: no proxy) so that a request made to follow a redirect
// fails with a *RedirectError instead of being sent.
func refuseRedirects(proxy func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	return func(req *http.Request) (*url.URL, error) {
		if req.Response != nil {
			return nil, &RedirectError{Status: req.Response.StatusCode, Location: truncateRef(req.URL.Redacted())}
		}
		if proxy == nil {
			return nil, nil
		}
		return proxy(req)
	}
}
