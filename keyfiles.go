package main

// Keys from files. Every setting that carries a key, or a password in a proxy URL, can be given in a file instead:
// <VARIABLE>_FILE names it, as Docker's images read their secrets (MYSQL_ROOT_PASSWORD_FILE). In Rancher 1.6 a
// service's environment is part of its configuration, which every member of the environment who can view the
// service can read; a Rancher secret, mounted under /run/secrets/, is not.

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

	"github.com/urfave/cli/v3"

	"github.com/ecr-updater/ecr-updater/doctor"
	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/proxy"
	"github.com/ecr-updater/ecr-updater/internal/redact"
)

// keyVar is a variable that carries a key, and its twin <name>_FILE.
type keyVar struct {
	name     string // the variable: AWS_SECRET_ACCESS_KEY
	flag     string // the flag bound to the variable, if it has one (the AWS SDK reads its own variables)
	fileFlag string // the flag bound to <name>_FILE
	secret   bool   // a secret, not an id: the scrubber learns it
	warn     bool   // doctor warns when it sits in a plain variable
	proxy    bool   // a proxy URL: net/http reads the lower-case name too, and only its user information is secret
	what     string // the check of doctor's line
}

var keyVars = []keyVar{
	{name: "CATTLE_ACCESS_KEY", flag: "cattle-access-key", fileFlag: "cattle-access-key-file", what: "rancher: access key"},
	{name: "CATTLE_SECRET_KEY", flag: "cattle-secret-key", fileFlag: "cattle-secret-key-file", secret: true, warn: true, what: "rancher: secret key"},
	{name: "AWS_ACCESS_KEY_ID", fileFlag: "aws-access-key-id-file", what: "aws: access key id"},
	{name: "AWS_SECRET_ACCESS_KEY", fileFlag: "aws-secret-access-key-file", secret: true, warn: true, what: "aws: secret key"},
	{name: "AWS_SESSION_TOKEN", fileFlag: "aws-session-token-file", secret: true, what: "aws: session token"},
	{name: "HTTPS_PROXY", fileFlag: "https-proxy-file", proxy: true, warn: true, what: "proxy: HTTPS_PROXY"},
	{name: "HTTP_PROXY", fileFlag: "http-proxy-file", proxy: true, warn: true, what: "proxy: HTTP_PROXY"},
}

// keyFileFlags are the flags of the _FILE variables.
func keyFileFlags() []cli.Flag {
	usage := map[string]string{
		"CATTLE_ACCESS_KEY":     "the Rancher API access key",
		"CATTLE_SECRET_KEY":     "the Rancher API secret key",
		"AWS_ACCESS_KEY_ID":     "the AWS access key id",
		"AWS_SECRET_ACCESS_KEY": "the AWS secret access key",
		"AWS_SESSION_TOKEN":     "the AWS session token",
		"HTTPS_PROXY":           "the HTTPS proxy URL (with a password)",
		"HTTP_PROXY":            "the HTTP proxy URL (with a password)",
	}
	var out []cli.Flag
	for _, v := range keyVars {
		out = append(out, stringFlag(v.fileFlag, v.name+"_FILE", "",
			"file holding "+usage[v.name]+", instead of $"+v.name+" (e.g. /run/secrets/"+strings.ToLower(v.name)+")"))
	}
	return out
}

// maxKeyFile bounds a key file: no key, token or proxy URL comes near it.
const maxKeyFile = 64 << 10

// key is the value of a keyVar, and where it came from.
type key struct {
	value string
	from  string // the variable ("AWS_SECRET_ACCESS_KEY", "https_proxy") or the flag ("--cattle-secret-key") it came from
	file  string // the path, when <name>_FILE was set (even when the file could not be read)
}

// given reports whether the key was set, in a variable or a file (a file that could not be read counts: its
// problem is reported on its own).
func (k key) given() bool { return k.value != "" || k.file != "" }

// source says where the key came from, for doctor and the start line.
func (k key) source(name string) string {
	switch {
	case k.file != "":
		return "file " + k.file + " (" + name + "_FILE)"
	case strings.HasPrefix(k.from, "--"):
		return "flag " + k.from
	case k.from != "":
		return "variable " + k.from
	}
	return ""
}

// keys are the values of every keyVar, by name.
type keys map[string]key

func (ks keys) value(name string) string { return ks[name].value }

// readKeys reads every keyVar from its variable (or flag) or its file; one error per problem. It makes no request.
func readKeys(c *cli.Command) (keys, error) {
	ks := keys{}
	var errs []error
	for _, v := range keyVars {
		k := plainKey(c, v)
		path := get(c, v.fileFlag)
		switch {
		case path != "" && k.value != "":
			errs = append(errs, fmt.Errorf("%s and %s_FILE are both set: set one of them (the file keeps the key out of the service's configuration)", k.from, v.name))
		case path != "":
			var err error
			k = key{file: path}
			k.value, err = readKeyFile(v.name+"_FILE", path)
			errs = append(errs, err)
		}
		ks[v.name] = k
	}
	return ks, errors.Join(errs...)
}

// plainKey is a keyVar's value from its flag or variable (a proxy also from the lower-case variable, as net/http
// reads it), and which it came from.
func plainKey(c *cli.Command, v keyVar) key {
	switch {
	case v.flag != "":
		k := key{value: c.String(v.flag), from: v.name}
		if !v.secret {
			k.value = strings.TrimSpace(k.value)
		}
		switch {
		case k.value == "":
			return key{}
		case os.Getenv(v.name) == "":
			k.from = "--" + v.flag
		}
		return k
	case v.proxy:
		for _, name := range []string{v.name, strings.ToLower(v.name)} {
			if s := os.Getenv(name); s != "" {
				return key{value: s, from: name}
			}
		}
		return key{}
	}
	if s := os.Getenv(v.name); s != "" {
		return key{value: s, from: v.name}
	}
	return key{}
}

// readKeyFile reads a key from a file: its content without one trailing "\n" or "\r\n". A file that is missing,
// unreadable, not a regular file, larger than maxKeyFile or empty is an error that names variable and the path,
// never what the file holds.
func readKeyFile(variable, path string) (string, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%s: %s does not exist", variable, path)
	case err != nil:
		return "", fmt.Errorf("%s: cannot read %s: %w", variable, path, pathErr(err))
	case info.IsDir():
		return "", fmt.Errorf("%s: %s is a directory, not a file holding the key", variable, path)
	case !info.Mode().IsRegular():
		return "", fmt.Errorf("%s: %s is not a regular file", variable, path)
	case info.Size() > maxKeyFile:
		return "", fmt.Errorf("%s: %s is larger than %d KiB: it holds no key", variable, path, maxKeyFile>>10)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: cannot read %s: %w (the daemon runs as uid %d)", variable, path, pathErr(err), os.Getuid())
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("%s: cannot read %s: %w", variable, path, pathErr(err))
	case len(b) > maxKeyFile:
		return "", fmt.Errorf("%s: %s is larger than %d KiB: it holds no key", variable, path, maxKeyFile>>10)
	}
	v := string(b)
	if s, ok := strings.CutSuffix(v, "\n"); ok {
		v = strings.TrimSuffix(s, "\r")
	}
	if strings.TrimSpace(v) == "" {
		return "", fmt.Errorf("%s: %s is empty", variable, path)
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

// secrets are the secrets among the keys, for the scrubber: the secret keys, and the user information of every
// proxy URL net/http may use (the variables in both cases, and the files).
func (ks keys) secrets() []redact.Secret {
	var out []redact.Secret
	for _, v := range keyVars {
		switch {
		case v.secret:
			out = append(out, redact.Secret(ks.value(v.name)))
		case v.proxy:
			out = append(out, proxySecrets(ks.value(v.name))...)
			out = append(out, proxySecrets(os.Getenv(v.name))...)
			out = append(out, proxySecrets(os.Getenv(strings.ToLower(v.name)))...)
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
func (ks keys) awsKeys() *ecr.Keys {
	id, secret, token := ks["AWS_ACCESS_KEY_ID"], ks["AWS_SECRET_ACCESS_KEY"], ks["AWS_SESSION_TOKEN"]
	if id.file == "" && secret.file == "" && token.file == "" {
		return nil
	}
	return &ecr.Keys{AccessKeyID: id.value, SecretAccessKey: redact.Secret(secret.value), SessionToken: redact.Secret(token.value)}
}

// proxy chooses the proxy of every request when a proxy URL came from a file: net/http's rules over the variables
// (internal/proxy), with the file's URL in the place of the variable's. nil when none came from a file: net/http
// reads the variables itself.
func (ks keys) proxy() func(*http.Request) (*url.URL, error) {
	if ks["HTTPS_PROXY"].file == "" && ks["HTTP_PROXY"].file == "" {
		return nil
	}
	noProxy := os.Getenv("NO_PROXY")
	if noProxy == "" {
		noProxy = os.Getenv("no_proxy")
	}
	return proxy.Config{HTTPProxy: ks.value("HTTP_PROXY"), HTTPSProxy: ks.value("HTTPS_PROXY"), NoProxy: noProxy,
		CGI: os.Getenv("REQUEST_METHOD") != ""}.Func()
}

// doctorKeys say where each key came from, for doctor's report: every key given, and the AWS secret key in any case
// (without one, the SDK's chain finds the credentials); a proxy only when its URL holds user information.
func (ks keys) doctorKeys() []doctor.Key {
	var out []doctor.Key
	for _, v := range keyVars {
		k := ks[v.name]
		switch {
		case v.proxy && len(proxySecrets(k.value)) == 0:
			continue
		case !k.given() && v.name != "AWS_SECRET_ACCESS_KEY":
			continue
		}
		d := doctor.Key{Check: v.what, From: k.source(v.name), Rancher: strings.HasPrefix(v.name, "CATTLE_")}
		if v.warn && k.file == "" && k.value != "" {
			d.Exposed, d.Fix = true, "use "+v.name+"_FILE with a Rancher secret (README: Keeping keys out of sight)"
			if strings.HasPrefix(v.name, "AWS_") {
				d.Fix += ", or give the hosts an instance role: no key at all"
			}
		}
		out = append(out, d)
	}
	return out
}

// startField is a key as the start line shows it: "(not set)", the marker of a secret, an id, and where it came
// from when that was a file.
func (ks keys) startField(name string) string {
	k := ks[name]
	v := k.value
	switch {
	case v == "":
		return "(not set)"
	case keyVarNamed(name).secret:
		v = redact.Marker
	}
	if k.file != "" {
		v += " (file " + k.file + ")"
	}
	return v
}

func keyVarNamed(name string) keyVar {
	for _, v := range keyVars {
		if v.name == name {
			return v
		}
	}
	return keyVar{}
}
