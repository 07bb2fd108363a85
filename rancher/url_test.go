package rancher

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	cases := []struct {
		in, origin, project, schemas string
	}{
		{"http://rancher:8080/v1", "http://rancher:8080", "", ""},
		{"http://rancher:8080/v1/", "http://rancher:8080", "", ""},
		{"https://rancher.example.com", "https://rancher.example.com", "", ""},
		{"https://rancher.example.com/", "https://rancher.example.com", "", ""},
		{"https://Rancher.Example.com/v2-beta", "https://rancher.example.com", "", ""},
		{"https://rancher.example.com/v2-beta/projects/1a5", "https://rancher.example.com", "1a5", "https://rancher.example.com/v2-beta/projects/1a5/schemas"},
		{"https://rancher.example.com/v2-beta/projects/1a5/", "https://rancher.example.com", "1a5", "https://rancher.example.com/v2-beta/projects/1a5/schemas"},
		{"https://rancher.example.com/v1/projects/1a7", "https://rancher.example.com", "1a7", "https://rancher.example.com/v2-beta/projects/1a7/schemas"},
		{"https://rancher.example.com/v2-beta/projects/1a5/schemas", "https://rancher.example.com", "1a5", "https://rancher.example.com/v2-beta/projects/1a5/schemas"},
		{"https://rancher.example.com/v2-beta/schemas", "https://rancher.example.com", "", ""},
		{" http://10.0.0.2:8080/v1 ", "http://10.0.0.2:8080", "", ""},
		{"https://proxy.example.com/rancher/v2-beta/projects/1a5", "https://proxy.example.com/rancher", "1a5", "https://proxy.example.com/rancher/v2-beta/projects/1a5/schemas"},
	}
	for _, tc := range cases {
		ep, err := ParseURL(tc.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.in, err)
			continue
		}
		if ep.Origin != tc.origin || ep.Project != tc.project {
			t.Errorf("ParseURL(%q) = %+v, want origin %q project %q", tc.in, ep, tc.origin, tc.project)
		}
		if tc.project != "" && ep.ProjectSchemas(ep.Project) != tc.schemas {
			t.Errorf("ParseURL(%q).ProjectSchemas = %q, want %q", tc.in, ep.ProjectSchemas(ep.Project), tc.schemas)
		}
		if ep.Base() != tc.origin+"/v2-beta" {
			t.Errorf("ParseURL(%q).Base = %q", tc.in, ep.Base())
		}
	}
	for _, in := range []string{"", "rancher:8080", "ftp://rancher/v1", "http://", "http://ak:sk@rancher:8080/v1",
		"http://rancher:8080/v2-beta/registries", "http://rancher:8080/v3", "http://rancher:8080/v1?x=1",
		"http://rancher:8080/v2-beta/projects", "http://rancher:8080/v2-beta/projects/1a5/registries", "http://ran cher/v1",
		"http://rancher:8080/v1/v2-beta"} {
		if ep, err := ParseURL(in); err == nil {
			t.Errorf("ParseURL(%q) = %+v, want an error", in, ep)
		}
	}
	// A URL with keys in it must not echo them in the error.
	if _, err := ParseURL("http://ak:supersecret@rancher:8080/v1"); err == nil || strings.Contains(err.Error(), "supersecret") {
		t.Errorf("user info: %v", err)
	}
}
