package ecr

import (
	"strings"
	"testing"
)

func TestParseImage(t *testing.T) {
	const ecrHost = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, c := range []struct {
		ref                   string
		host, repo, tag, dig  string
		ecrAccount, ecrRegion string
		notECR                bool
	}{
		{ref: "docker:" + ecrHost + "/app:1", host: ecrHost, repo: "app", tag: "1", ecrAccount: "123456789012", ecrRegion: "us-east-1"},
		{ref: ecrHost + "/app:1", host: ecrHost, repo: "app", tag: "1", ecrAccount: "123456789012", ecrRegion: "us-east-1"},
		{ref: "docker:" + ecrHost + "/team/app", host: ecrHost, repo: "team/app", ecrAccount: "123456789012", ecrRegion: "us-east-1"},
		{ref: "docker:" + ecrHost + "/app@" + digest, host: ecrHost, repo: "app", dig: digest, ecrAccount: "123456789012", ecrRegion: "us-east-1"},
		{ref: "docker:" + ecrHost + "/app:2@" + digest, host: ecrHost, repo: "app", tag: "2", dig: digest, ecrAccount: "123456789012", ecrRegion: "us-east-1"},
		{ref: "docker:123456789012.DKR.ECR.eu-west-1.AMAZONAWS.COM/app", host: "123456789012.dkr.ecr.eu-west-1.amazonaws.com", repo: "app", ecrAccount: "123456789012", ecrRegion: "eu-west-1"},
		{ref: "docker:" + ecrHost + ":443/app", host: ecrHost + ":443", repo: "app", ecrAccount: "123456789012", ecrRegion: "us-east-1"},
		{ref: "docker:" + ecrHost + ":5000/app", host: ecrHost + ":5000", repo: "app", notECR: true},
		{ref: "docker:12345.dkr.ecr.us-east-1.amazonaws.com/app", host: "12345.dkr.ecr.us-east-1.amazonaws.com", repo: "app", notECR: true},
		{ref: "docker:123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app", host: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", repo: "app", ecrAccount: "123456789012", ecrRegion: "cn-north-1"},
		{ref: "docker:123456789012.dkr-ecr.us-west-2.on.aws/app", host: "123456789012.dkr-ecr.us-west-2.on.aws", repo: "app", ecrAccount: "123456789012", ecrRegion: "us-west-2"},
		{ref: "docker:nginx", host: DockerHub, repo: "library/nginx"},
		{ref: "nginx:1.25", host: DockerHub, repo: "library/nginx", tag: "1.25"},
		{ref: "docker:library/nginx", host: DockerHub, repo: "library/nginx"},
		{ref: "docker:rancher/lb-service-haproxy:v0.9.1", host: DockerHub, repo: "rancher/lb-service-haproxy", tag: "v0.9.1"},
		{ref: "docker:nginx@" + digest, host: DockerHub, repo: "library/nginx", dig: digest},
		{ref: "docker:localhost/app", host: "localhost", repo: "app"},
		{ref: "docker:localhost:5000/app:dev", host: "localhost:5000", repo: "app", tag: "dev"},
		{ref: "docker:registry.example.com:8443/team/app:1", host: "registry.example.com:8443", repo: "team/app", tag: "1"},
		{ref: "docker:public.ecr.aws/nginx/nginx:1", host: "public.ecr.aws", repo: "nginx/nginx", tag: "1"},
		{ref: "docker:docker:5000/app", host: "docker:5000", repo: "app"},
		{ref: "docker:quay.io/coreos/etcd", host: "quay.io", repo: "coreos/etcd"},
	} {
		img, err := ParseImage(c.ref)
		if err != nil {
			t.Errorf("%s: %v", c.ref, err)
			continue
		}
		if img.Ref != c.ref || img.Host != c.host || img.Repository != c.repo || img.Tag != c.tag || img.Digest != c.dig {
			t.Errorf("%s: %+v", c.ref, img)
		}
		switch {
		case c.ecrAccount != "" && (img.ECR == nil || img.ECR.Account != c.ecrAccount || img.ECR.Region != c.ecrRegion):
			t.Errorf("%s: ECR %+v", c.ref, img.ECR)
		case c.ecrAccount == "" && img.ECR != nil:
			t.Errorf("%s: taken for ECR: %+v", c.ref, img.ECR)
		case c.notECR != (img.NotECR != nil):
			t.Errorf("%s: NotECR %v", c.ref, img.NotECR)
		}
	}
}

func TestParseImageRefuses(t *testing.T) {
	for _, ref := range []string{
		"", "docker:", "docker:nginx:", "docker:" + "host.example.com/", "docker:host.example.com//app",
		"docker:/app", "docker:nginx@", "docker:nginx@sha256", "docker:ngi nx", "docker:app\n", "docker:a\x00b",
		"docker:\xff", "docker::5000/app", "docker:" + strings.Repeat("a", 4097),
	} {
		if img, err := ParseImage(ref); err == nil {
			t.Errorf("%q: accepted as %+v", ref, img)
		} else if len(err.Error()) > 300 {
			t.Errorf("%q: error too long: %d bytes", ref, len(err.Error()))
		}
	}
}

func FuzzParseImage(f *testing.F) {
	for _, s := range []string{"docker:123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1", "nginx", "localhost:5000/a@sha256:00",
		"docker:docker:5000/app", "a.b/c/d:e@f:g", "123456789012.dkr.ecr.us-east-1.amazonaws.com:443/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		img, err := ParseImage(ref)
		if err != nil {
			return
		}
		if img.Host == "" || img.Repository == "" || img.Host != strings.ToLower(img.Host) {
			t.Fatalf("%q: %+v", ref, img)
		}
		if img.ECR != nil {
			host, _, _ := strings.Cut(img.Host, ":")
			if img.ECR.Host != host {
				t.Fatalf("%q: ECR host %q, image host %q", ref, img.ECR.Host, img.Host)
			}
		}
		if !strings.HasPrefix(ref, "docker:") {
			again, err := ParseImage("docker:" + ref)
			if err != nil || again.Host != img.Host || again.Repository != img.Repository || again.Tag != img.Tag || again.Digest != img.Digest {
				t.Fatalf("%q: with docker: %+v, %v; without %+v", ref, again, err, img)
			}
		}
	})
}
