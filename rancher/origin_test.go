package rancher

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	client "github.com/rancher/go-rancher/v2"

	"github.com/ecr-updater/ecr-updater/internal/redact"
)

// TestPin: a link is used for its path and query only, on the configured scheme, host and port (and path prefix).
func TestPin(t *testing.T) {
	t.Parallel()
	for _, x := range []struct{ cattleURL, link, want string }{
		{"https://rancher.internal:8443/v2-beta", "http://rancher.example.com/v2-beta/schemas", "https://rancher.internal:8443/v2-beta/schemas"},
		{"https://rancher.internal/v2-beta", "https://evil.example.com:9999/v2-beta/projects/1a5/registrycredentials/1c1", "https://rancher.internal/v2-beta/projects/1a5/registrycredentials/1c1"},
		{"http://10.0.0.5:8080/v1", "/v2-beta/registries?limit=1000&marker=m1000", "http://10.0.0.5:8080/v2-beta/registries?limit=1000&marker=m1000"},
		{"http://10.0.0.5:8080", "HTTPS://User:Pass@Other:1/v2-beta/registries/1sp1/?action=deactivate#frag", "http://10.0.0.5:8080/v2-beta/registries/1sp1/?action=deactivate"},
		{"https://proxy.example.com/rancher/v2-beta", "https://rancher.example.com/v2-beta/schemas", "https://proxy.example.com/rancher/v2-beta/schemas"},
		{"https://proxy.example.com/rancher/v2-beta", "https://proxy.example.com/rancher/v2-beta/schemas", "https://proxy.example.com/rancher/v2-beta/schemas"},
		{"https://proxy.example.com/rancher/v2-beta", "/ranchers/v2-beta", "https://proxy.example.com/rancher/ranchers/v2-beta"},
		{"https://r.example.com/v2-beta", "//evil.example.com/v2-beta/schemas", "https://r.example.com/v2-beta/schemas"},
		{"https://r.example.com/v2-beta", "https://r.example.com/v2-beta/projects/1a%2F5/schemas", "https://r.example.com/v2-beta/projects/1a%2F5/schemas"},
	} {
		ep, err := ParseURL(x.cattleURL)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", x.cattleURL, err)
		}
		o, err := newOrigin(ep)
		if err != nil {
			t.Fatalf("newOrigin(%q): %v", x.cattleURL, err)
		}
		if got, err := o.pin(x.link); err != nil || got != x.want {
			t.Errorf("%s: pin(%q) = %q, %v; want %q", x.cattleURL, x.link, got, err, x.want)
		}
	}
	o := origin{scheme: "https", host: "r.example.com"}
	for _, bad := range []string{"", "file:///etc/passwd", "javascript:alert(1)", "mailto:x@y", "v2-beta/schemas", "https://r.example.com",
		"http://[::1", strings.Repeat("/a", maxLinkLen)} {
		if got, err := o.pin(bad); err == nil {
			t.Errorf("pin(%.40q) = %q, want an error", bad, got)
		}
	}
}

// TestErrorPairs: go-rancher's "k=v, k=v" error text is read whole, a message holding ", " included.
func TestErrorPairs(t *testing.T) {
	t.Parallel()
	got := pairsOf(`message=invalid input: {"publicValue":"AWS", "secretValue":"pw"}, code=InvalidFormat, fieldName=secretValue`)
	want := map[string]string{"message": `invalid input: {"publicValue":"AWS", "secretValue":"pw"}`, "code": "InvalidFormat", "fieldName": "secretValue"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pairsOf = %q, want %q", got, want)
	}
}

// TestScrubForms: a secret is scrubbed in every form an answer may echo it, before the text is cut short.
func TestScrubForms(t *testing.T) {
	t.Parallel()
	secret := `pa/ss<w>&"rd` + strings.Repeat("z", 250)
	j, _ := json.Marshal(secret)
	for _, form := range []string{secret, string(j[1 : len(j)-1]), strings.ReplaceAll(string(j[1:len(j)-1]), "/", `\/`),
		strings.NewReplacer(`"`, `\"`).Replace(secret)} {
		err := scrub(&Error{Status: 422, Code: "X" + form, Message: strings.Repeat("m", 150) + form, Err: errors.New("e " + form)}, secret)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("scrub returned %T", err)
		}
		for _, text := range []string{e.Code, e.Message, e.Err.Error(), err.Error(), fmt.Sprintf("%#v", err)} {
			if strings.Contains(text, "zzzzzzzzzz") || strings.Contains(text, "pa/ss") || strings.Contains(text, `pa\/ss`) {
				t.Errorf("scrubbed text keeps part of the secret: %.120q", text)
			}
		}
		if !strings.Contains(e.Message, redact.Marker) {
			t.Errorf("Message = %.80q, want the marker", e.Message)
		}
	}
	// go-rancher's parse error quotes the whole body.
	body := `{"data":[` + strings.Repeat(`"BODY"`, 100)
	var v client.RegistryCollection
	perr := json.Unmarshal([]byte(body), &v)
	err := fromClient(parseError(perr, []byte(body)))
	if strings.Contains(err.Error(), "BODY") || strings.Contains(fmt.Sprintf("%#v", err), "BODY") {
		t.Errorf("a parse error carries the body: %.120q", err.Error())
	}
}

// parseError is the error go-rancher's doGet returns for a body it cannot decode (errors.Wrap of pkg/errors):
// "Failed to parse: <body>: <cause>".
func parseError(cause error, body []byte) error {
	return fmt.Errorf("Failed to parse: %s: %w", body, cause)
}

// FuzzDecodeCollection feeds arbitrary bytes to the decoding of every answer the package reads: a page of
// registries, credentials, environments or services as the package decodes and checks it, the schemas
// document, and go-rancher's parse error. Nothing panics; what is accepted is a collection of the right type;
// no error text carries the input.
func FuzzDecodeCollection(f *testing.F) {
	for _, seed := range []string{
		`{"type":"collection","resourceType":"registry","data":[{"id":"1sp1","type":"registry","serverAddress":"a.b","links":{"self":"http://x/v2-beta/registries/1sp1"}}],"pagination":{"next":"http://evil/v2-beta/registries?marker=m1"}}`,
		`{"type":"collection","resourceType":"registryCredential","data":[]}`,
		`{"type":"collection","resourceType":"project","data":[{"id":"1a5","type":"project","name":"Producción"}]}`,
		`{"type":"collection","resourceType":"schema","data":[{"id":"registry","type":"schema","links":{"collection":"https://h/v2-beta/registries"},"collectionMethods":["GET","POST"]}]}`,
		`{}`, `null`, `[]`, `{"data":null}`, `{"type":"error","status":500}`, `{"type":"collection","resourceType":"registry","data":[null]}`,
		"\x00\xff", `{"type":"collection","resourceType":"registry","data":[{"type":"registry"}],"pagination":{"next":"javascript:x"}}`,
	} {
		f.Add([]byte(seed))
	}
	o := origin{scheme: "https", host: "rancher.internal:8443", prefix: "/r"}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(what string, err error) {
			if err == nil {
				return
			}
			msg := fromClient(err).Error()
			if len(body) >= 16 && strings.Contains(msg, string(body)) {
				t.Errorf("%s: the error carries the input: %.200q", what, msg)
			}
			if len(msg) > 1000 {
				t.Errorf("%s: error of %d bytes", what, len(msg))
			}
		}
		decodePage := func(what, want string, coll any, page func() (string, int, error)) {
			if err := json.Unmarshal(body, coll); err != nil {
				check(what, parseError(err, body))
				return
			}
			next, n, err := page()
			check(what, err)
			if err != nil {
				return
			}
			var env struct {
				Type, ResourceType string
				Data               []json.RawMessage
			}
			if json.Unmarshal(body, &env) != nil || !strings.EqualFold(env.Type, "collection") || !strings.EqualFold(env.ResourceType, want) || len(env.Data) != n {
				t.Errorf("%s: accepted %.200q", what, body)
			}
			if next != "" {
				if u, err := o.pin(next); err == nil && !strings.HasPrefix(u, "https://rancher.internal:8443/") {
					t.Errorf("%s: next %q pinned to %q", what, next, u)
				}
			}
		}
		all := listBudget{items: maxItems, bytes: maxListBytes}
		regs := newPageOf(client.REGISTRY_TYPE, keepRegistry, all)
		decodePage("registries", "registry", regs, func() (string, int, error) {
			p, err := regs.page()
			return p.next, len(p.items), err
		})
		creds := newPageOf(client.REGISTRY_CREDENTIAL_TYPE, keepCredential, all)
		decodePage("credentials", "registryCredential", creds, func() (string, int, error) {
			p, err := creds.page()
			for _, c := range p.items {
				if c.self != "" {
					if u, err := o.pin(c.self); err == nil && !strings.HasPrefix(u, "https://rancher.internal:8443/") {
						t.Errorf("self %q pinned to %q", c.self, u)
					}
				}
			}
			return p.next, len(p.items), err
		})
		projects := newPageOf(client.PROJECT_TYPE, keepProject, all)
		decodePage("environments", "project", projects, func() (string, int, error) {
			p, err := projects.page()
			return p.next, len(p.items), err
		})
		services := newPageOf(client.SERVICE_TYPE, keepService, all)
		decodePage("services", "service", services, func() (string, int, error) {
			p, err := services.page()
			return p.next, len(p.items), err
		})
		types, err := decodeSchemas(body, o, client.REGISTRY_TYPE, client.REGISTRY_CREDENTIAL_TYPE)
		check("schemas", err)
		for id, s := range types {
			for name, link := range s.Links {
				if !strings.HasPrefix(link, "https://rancher.internal:8443/") {
					t.Errorf("schema %s: %s link %q not pinned", id, name, link)
				}
			}
		}
	})
}
