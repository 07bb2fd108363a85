package ecr

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// DockerHub is the registry host of images named without one ("nginx", "library/nginx", "user/app").
const DockerHub = "docker.io"

// Image is an image reference taken apart the way Rancher 1.6 picks the registry credential of a pull.
type Image struct {
	// Ref is the reference as given, e.g. "docker:123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1".
	Ref string
	// Host is the registry part, lower case and exactly as Rancher compares it with a registry's serverAddress
	// (case aside): the text before the first "/" when it has a "." or a ":" or is "localhost", else DockerHub.
	Host string
	// Repository is the path after the host ("app", "team/app"; "library/nginx" on Docker Hub for "nginx").
	Repository string
	// Tag and Digest are what follows ":" and "@" ("" when absent).
	Tag, Digest string
	// ECR is set when Host is a private ECR registry, parsed by ParseServerAddress.
	ECR *Registry
	// NotECR is set when Host looks like an ECR registry but fits no ECR host shape (ParseServerAddress's error).
	NotECR error
}

// ParseImage takes apart an image reference as Rancher stores it in a launchConfig's imageUuid ("docker:<image>")
// or as written in a compose file (without "docker:"): host and port, repository, tag, digest. The registry part
// follows Rancher's (and Docker's) rule: the text before the first "/" when it contains "." or ":" or is
// "localhost"; every other name is a Docker Hub image. One leading "docker:" is always taken as Rancher's prefix,
// so a registry host named "docker" must be written "docker:docker:5000/app", as Rancher stores it.
func ParseImage(ref string) (Image, error) {
	s := strings.TrimPrefix(ref, "docker:")
	img := Image{Ref: ref}
	reason := checkRef(s)
	if reason == "" {
		reason = img.split(s)
	}
	if reason != "" {
		return Image{}, fmt.Errorf("image %q: %s", truncateRef(ref), reason)
	}
	reg, err := ParseServerAddress(img.Host)
	var addrErr *AddressError
	switch {
	case err == nil:
		img.ECR = &reg
	case errors.As(err, &addrErr) && looksLikeECR.MatchString(img.Host):
		img.NotECR = err
	}
	return img, nil
}

// checkRef says what is wrong with a reference (without "docker:") as a whole: "" when nothing is.
func checkRef(s string) string {
	switch {
	case s == "":
		return "it is empty"
	case len(s) > 4096:
		return "it is longer than 4096 bytes"
	}
	for _, r := range s {
		if r == unicode.ReplacementChar || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return "it has spaces, control characters or invalid UTF-8"
		}
	}
	return ""
}

// split takes s apart into digest, tag, host and repository; it returns what is wrong, "" when nothing is.
func (img *Image) split(s string) string {
	name := s
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name, img.Digest = name[:i], name[i+1:]
		if img.Digest == "" || !strings.Contains(img.Digest, ":") {
			return "its digest is not <algorithm>:<hex>"
		}
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.Contains(name[i+1:], "/") {
		name, img.Tag = name[:i], name[i+1:]
		if img.Tag == "" {
			return "its tag is empty"
		}
	}
	first, rest, hasSlash := strings.Cut(name, "/")
	switch {
	case hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost"):
		img.Host, img.Repository = strings.ToLower(first), rest
	case hasSlash:
		img.Host, img.Repository = DockerHub, name
	default:
		img.Host, img.Repository = DockerHub, "library/"+name
	}
	switch {
	case img.Host == "" || strings.HasPrefix(img.Host, ":") || strings.HasSuffix(img.Host, ":"):
		return "its registry host is empty"
	case img.Repository == "" || strings.HasPrefix(img.Repository, "/") || strings.HasSuffix(img.Repository, "/") || strings.Contains(img.Repository, "//"):
		return "its repository name is empty"
	}
	return ""
}

// truncateRef bounds how much of a bad reference (or of any text taken from an answer) an error repeats.
func truncateRef(s string) string {
	if len(s) <= 200 {
		return s
	}
	return s[:200] + "..."
}
