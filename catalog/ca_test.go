package catalog

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// caPEM is a CA certificate in PEM, as an operator pastes it into the multiline question: several lines, the
// armour lines starting with ----- (a YAML document marker at the start of a line), base64 with + / and =.
func caPEM(t *testing.T, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now(),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// certificates counts the certificates of a PEM text, as the daemon reads RANCHER_CA_CERT.
func certificates(t *testing.T, text string) int {
	t.Helper()
	n := 0
	for rest := []byte(text); ; n++ {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return n
		}
		if _, err := x509.ParseCertificate(b.Bytes); b.Type != "CERTIFICATE" || err != nil {
			t.Fatalf("block %d: %s %v", n+1, b.Type, err)
		}
	}
}

// TestCAAnswerSurvivesRendering: a multiline PEM answer reaches the daemon's RANCHER_CA_CERT exactly as pasted (line
// breaks, CRLF, a chain, a trailing newline or none), through Rancher's template step, YAML parsing and
// interpolation, with registry environment current and other; the rendered file parses, and parses again once
// written back as YAML (as Rancher shows the stack's compose file), with the same certificates. The timeouts go
// through as answered. From a Rancher secret, the CA is mounted and RANCHER_CA_CERT_FILE names it instead.
func TestCAAnswerSurvivesRendering(t *testing.T) {
	one, two := caPEM(t, "Rancher CA"), caPEM(t, "Rancher intermediate")
	pems := map[string]struct {
		text  string
		certs int
	}{
		"one certificate":    {one, 1},
		"no final newline":   {strings.TrimSuffix(one, "\n"), 1},
		"CRLF line breaks":   {strings.ReplaceAll(one, "\n", "\r\n"), 1},
		"a chain":            {one + two, 2},
		"blank lines around": {"\n" + one + "\n\n", 1},
	}
	for _, tpl := range tplFiles(t) {
		vf := loadFolder(t, filepath.Dir(tpl))
		text := vf.Files[filepath.Base(tpl)]
		for name, p := range pems {
			for _, env := range []string{"current", "other"} {
				answers := answersFor(vf.Catalog.Questions, map[string]string{"registry_in_which_environment": env,
					"environment_api_endpoint": "https://rancher.example.com/v2-beta/projects/1a5", "environment_api_access_key": "AK",
					"environment_api_secret_key": "SK", "rancher_ca_cert": p.text, "rancher_timeout": "30s", "ecr_timeout": "1m"})
				r, err := renderCompose(tpl, text, answers)
				if err != nil {
					t.Fatalf("%s, %s: %v", name, env, err)
				}
				checkRenderedService(t, r, answers, env == "other")
				got := r.Services[serviceName]["environment"].(map[string]any)["RANCHER_CA_CERT"]
				if got != p.text {
					t.Errorf("%s, %s: RANCHER_CA_CERT = %q, want the answer %q", name, env, got, p.text)
					continue
				}
				if n := certificates(t, got.(string)); n != p.certs {
					t.Errorf("%s, %s: %d certificates, want %d", name, env, n, p.certs)
				}
				// Written back as YAML and read again: the same value.
				out, err := yaml.Marshal(r.Doc)
				if err != nil {
					t.Fatal(err)
				}
				var again map[string]any
				if err := yaml.Unmarshal(out, &again); err != nil {
					t.Fatalf("%s, %s: the rendered file, written back, does not parse: %v\n%s", name, env, err, out)
				}
				// (yaml.v3 drops a leading blank line there; the daemon trims the value all the same.)
				services, _ := composeServices(again)
				v, _ := services[serviceName]["environment"].(map[string]any)["RANCHER_CA_CERT"].(string)
				if strings.TrimSpace(v) != strings.TrimSpace(p.text) {
					t.Errorf("%s, %s: written back and read again, RANCHER_CA_CERT = %q", name, env, v)
				}
			}
		}
		// From a Rancher secret instead: mounted, RANCHER_CA_CERT_FILE names it, RANCHER_CA_CERT is not set.
		answers := answersFor(vf.Catalog.Questions, map[string]string{"rancher_ca_cert_from_secret": "rancher-ca", "rancher_ca_cert": one})
		r, err := renderCompose(tpl, text, answers)
		if err != nil {
			t.Fatal(err)
		}
		checkRenderedService(t, r, answers, false)
		env := r.Services[serviceName]["environment"].(map[string]any)
		if _, ok := env["RANCHER_CA_CERT"]; ok || env["RANCHER_CA_CERT_FILE"] != "/run/secrets/rancher_ca_cert" {
			t.Errorf("CA from a secret: RANCHER_CA_CERT %#v, RANCHER_CA_CERT_FILE %#v", env["RANCHER_CA_CERT"], env["RANCHER_CA_CERT_FILE"])
		}
	}
}

// TestTemplatedPEMWouldBreak: the reason the template writes ${rancher_ca_cert}, never {{ .Values.rancher_ca_cert }}:
// templated into the YAML text, the PEM's line breaks end the value (the file does not parse, or the variable
// loses its lines).
func TestTemplatedPEMWouldBreak(t *testing.T) {
	p := caPEM(t, "Rancher CA")
	tpl := "version: '2'\nservices:\n  ecr-updater:\n    environment:\n      RANCHER_CA_CERT: {{ .Values.rancher_ca_cert }}\n"
	r, err := renderCompose("templated.yml.tpl", tpl, map[string]string{"rancher_ca_cert": p})
	if err == nil {
		if got := r.Services[serviceName]["environment"].(map[string]any)["RANCHER_CA_CERT"]; got == p {
			t.Fatalf("a templated PEM came through intact; the template comment's reason does not hold")
		}
	}
}
