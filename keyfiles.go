package main

// Values from files. Every setting that carries a key, or a password in a proxy URL, can be given in a file instead
// (and so can the Rancher CA): <VARIABLE>_FILE names it, as Docker's images read their secrets
// (MYSQL_ROOT_PASSWORD_FILE). In Rancher 1.6 a service's environment is part of its configuration, which every member
// of the environment who can view the service can read; a Rancher secret, mounted under /run/secrets/, is not. The
// settings table (config.go) says which settings have a file: the rows with a file; readValue reads it. This file
// holds what the keys need besides: the file reader, the scrubber's secrets, the AWS keys and the proxy handed to
// the packages, doctor's lines and the start line's fields.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/ecr-updater/ecr-updater/doctor"
	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/proxy"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/setting"
)

// maxKeyFile bounds a key file: no key, token or proxy URL comes near it.
const maxKeyFile = 64 << 10

// fileLimit bounds the file of a row's <VAR>_FILE: a key's (a row with a doctor line), or the CA's.
func (r row) fileLimit() int64 {
	if r.check != 0 {
		return maxKeyFile
	}
	return maxCAFile
}

// source says where a value came from, for doctor and the start line.
func (v value) source() string {
	switch {
	case v.file != "":
		return "file " + v.file + " (" + v.from + ")"
	case strings.HasPrefix(v.from, "--"):
		return "flag " + v.from
	case v.from != "":
		return "variable " + v.from
	}
	return ""
}

// readFile reads a value from a file: its content without one trailing "\n" or "\r\n". A file that is missing,
// unreadable, not a regular file, larger than limit or empty is an error that names the path, never what the file
// holds (the caller names the variable).
func readFile(path string, limit int64) (string, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%s does not exist", path)
	case err != nil:
		return "", fmt.Errorf("cannot read %s: %w", path, pathErr(err))
	case info.IsDir():
		return "", fmt.Errorf("%s is a directory, not a file", path)
	case !info.Mode().IsRegular():
		return "", fmt.Errorf("%s is not a regular file", path)
	case info.Size() > limit:
		return "", fmt.Errorf("%s is larger than %d KiB", path, limit>>10)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w (the daemon runs as uid %d)", path, pathErr(err), os.Getuid())
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("cannot read %s: %w", path, pathErr(err))
	case int64(len(b)) > limit:
		return "", fmt.Errorf("%s is larger than %d KiB", path, limit>>10)
	}
	v := string(b)
	if s, ok := strings.CutSuffix(v, "\n"); ok {
		v = strings.TrimSuffix(s, "\r")
	}
	if strings.TrimSpace(v) == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

// pathErr is the reason of an os error, without the path that the message already names.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// secrets are the secrets among the values, for the scrubber: the secret keys, and the user information of every
// proxy URL net/http may use (the variables in both cases, and the files).
func (in *inputs) secrets() []redact.Secret {
	var out []redact.Secret
	for _, r := range table() {
		switch {
		case r.secret:
			out = append(out, redact.Secret(in[r.id].text))
		case r.proxy:
			out = append(out, proxySecrets(in[r.id].text)...)
			for _, variable := range r.vars {
				out = append(out, proxySecrets(os.Getenv(variable))...)
			}
		}
	}
	return out
}

// proxySecrets are the secrets of a proxy URL as net/http reads it (a URL without a scheme is http): its password,
// or its user name when it has none (a token), decoded, as written and as Go writes it, and the Proxy-Authorization
// value net/http makes of the user information.
func proxySecrets(raw string) []redact.Secret {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		raw = "http://" + raw
		if u, err = url.Parse(raw); err != nil {
			return nil
		}
	}
	if u.User == nil {
		return nil
	}
	name := u.User.Username()
	pass, hasPass := u.User.Password()
	auth := base64.StdEncoding.EncodeToString([]byte(name + ":" + pass))
	// The user information as written: before the last "@" of the authority (url.Parse put it there).
	authority := raw[strings.Index(raw, "://")+3:]
	authority = authority[:strings.IndexAny(authority+"/", "/?#")]
	written, _, _ := strings.Cut(authority, "@")
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		written = authority[:at]
	}
	escaped := u.User.String()
	if hasPass {
		_, written, _ = strings.Cut(written, ":")
		_, escaped, _ = strings.Cut(escaped, ":")
	} else {
		pass = name
	}
	return []redact.Secret{redact.Secret(pass), redact.Secret(written), redact.Secret(escaped), redact.Secret(auth)}
}

// awsKeys are the AWS keys for ecr.Config.Keys when any of them came from a file: the SDK reads only its own
// variables, so the three are handed over together. nil leaves the keys to the SDK, as without files.
func (in *inputs) awsKeys() *ecr.Keys {
	id, secret, token := in[setting.AWSAccessKeyID], in[setting.AWSSecretKey], in[setting.AWSSessionToken]
	if id.file == "" && secret.file == "" && token.file == "" {
		return nil
	}
	return &ecr.Keys{AccessKeyID: id.text, SecretAccessKey: redact.Secret(secret.text), SessionToken: redact.Secret(token.text)}
}

// proxy chooses the proxy of every request when a proxy URL came from a file: net/http's rules over the variables
// (internal/proxy), with the file's URL in the place of the variable's. nil when none came from a file: net/http
// reads the variables itself.
func (in *inputs) proxy() func(*http.Request) (*url.URL, error) {
	if in[setting.HTTPSProxy].file == "" && in[setting.HTTPProxy].file == "" {
		return nil
	}
	noProxy := os.Getenv("NO_PROXY")
	if noProxy == "" {
		noProxy = os.Getenv("no_proxy")
	}
	return proxy.Config{HTTPProxy: in[setting.HTTPProxy].text, HTTPSProxy: in[setting.HTTPSProxy].text, NoProxy: noProxy,
		CGI: os.Getenv("REQUEST_METHOD") != ""}.Func()
}

// doctorKeys say where each key came from, for doctor's report: every key given, and the AWS secret key in any case
// (without one, the SDK's chain finds the credentials); a proxy only when its URL holds user information.
func (in *inputs) doctorKeys() []doctor.Key {
	var out []doctor.Key
	for _, r := range table() {
		v := in[r.id]
		switch {
		case r.check == 0:
			continue
		case r.proxy && len(proxySecrets(v.text)) == 0:
			continue
		case !v.given() && r.id != setting.AWSSecretKey:
			continue
		}
		d := doctor.Key{Line: r.check, From: v.source(), Rancher: r.id == setting.AccessKey || r.id == setting.SecretKey}
		if r.warn && v.file == "" && v.text != "" {
			d.Exposed, d.Fix = true, "use "+r.fileVar()+" with a Rancher secret (README: Keeping keys out of sight)"
			if r.id == setting.AWSSecretKey {
				d.Fix += ", or give the hosts an instance role: no key at all"
			}
		}
		out = append(out, d)
	}
	return out
}

// startField is a key as the start line shows it: "(not set)", the marker of a secret, an id, and where it came
// from when that was a file.
func (in *inputs) startField(id setting.ID) string {
	v := in[id]
	text := v.text
	switch {
	case text == "":
		return notSet
	case rowOf(id).secret:
		text = redact.Marker
	}
	if v.file != "" {
		text += " (file " + v.file + ")"
	}
	return text
}
