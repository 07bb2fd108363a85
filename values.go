package main

// The parsers of the settings' values. Each takes the text (the default's, when nothing was given) and says what
// is wrong with it without naming the setting: load names the variable, flag or file it came from.

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/rancher"
)

// named prefixes an error with the variable (or flag, or file) it is about.
func named(variable string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", variable, err)
}

// namedEach names each error of a joined error, so that each is a message of its own.
func namedEach(variable string, err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, e := range j.Unwrap() {
			errs = append(errs, named(variable, e))
		}
		return errors.Join(errs...)
	}
	return named(variable, err)
}

// parseBool reads every strconv.ParseBool form (1, t, true, 0, f, false) in any case, plus yes/no and on/off;
// empty is false.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "0", "f", "false", "no", "off":
		return false, nil
	case "1", "t", "true", "yes", "on":
		return true, nil
	}
	return false, fmt.Errorf("%q is not a boolean: give true or false (also 1/0, t/f, yes/no, on/off)", s)
}

// parseLevel reads every logrus level name in any case. panic and fatal log at error level: the daemon never
// exits or panics because of a log line.
func parseLevel(s string) (logrus.Level, error) {
	level, err := logrus.ParseLevel(strings.ToLower(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not trace, debug, info, warn, warning, error, fatal or panic", s)
	}
	return max(level, logrus.ErrorLevel), nil
}

func parseLogFormat(s string) (string, error) {
	switch f := strings.ToLower(s); f {
	case "text", "json":
		return f, nil
	}
	return "", fmt.Errorf("%q is not text or json", s)
}

// duration reads a Go duration from lo to hi (hi 0: no upper bound).
func duration(s string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil && strings.Trim(s, "0123456789") == "":
		return 0, fmt.Errorf("%q is not a duration: a number needs its unit, like %ss, %sm or %sh", s, s, s, s)
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration like 6h, 30m or 10s", s)
	case d < lo:
		return 0, fmt.Errorf("%q is shorter than %s", s, shortDuration(lo))
	case hi > 0 && d > hi:
		return 0, fmt.Errorf("%q is longer than %s", s, shortDuration(hi))
	}
	return d, nil
}

// integer reads a whole number from lo to hi.
func integer(s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not a whole number from %d to %d", s, lo, hi)
	}
	return n, nil
}

// list splits a comma list; items are trimmed, empty items dropped.
func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// escapedList splits a comma list where \, is a comma inside an item and \\ a backslash; any other backslash
// stays as it is. Items are trimmed; empty items are dropped.
func escapedList(s string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if v := strings.TrimSpace(b.String()); v != "" {
			out = append(out, v)
		}
		b.Reset()
	}
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && (s[i+1] == ',' || s[i+1] == '\\'):
			i++
			b.WriteByte(s[i])
		case s[i] == ',':
			flush()
		default:
			b.WriteByte(s[i])
		}
	}
	flush()
	return out
}

// checkEach checks every item of a list (check may normalise it); one error per bad item.
func checkEach(items []string, check func(string) (string, error)) ([]string, error) {
	var errs []error
	for i, item := range items {
		var err error
		items[i], err = check(item)
		errs = append(errs, err)
	}
	return items, errors.Join(errs...)
}

func parseAccount(id string) (string, error) {
	if !ecr.ValidAccount(id) {
		return id, fmt.Errorf("%q is not a 12-digit AWS account id", id)
	}
	return id, nil
}

// parseListedRegion reads a region of a list, in any case.
func parseListedRegion(region string) (string, error) {
	return parseRegion(strings.ToLower(region))
}

func parseRegion(region string) (string, error) {
	if region != "" && !ecr.ValidRegion(region) {
		return region, fmt.Errorf("%q is not an AWS region name", region)
	}
	return region, nil
}

var roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)

func parseRoleARN(arn string) (string, error) {
	if arn != "" && !roleARNRE.MatchString(arn) {
		return arn, fmt.Errorf("%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", arn)
	}
	return arn, nil
}

// maxEnvironmentName bounds one name of RANCHER_ENVIRONMENTS (Cattle stores names in a 255-character column).
const maxEnvironmentName = 255

// checkEnvironmentName accepts any printable name: letters of any script, spaces, punctuation.
func checkEnvironmentName(n string) (string, error) {
	if !utf8.ValidString(n) {
		return n, fmt.Errorf("%q is not valid UTF-8", n)
	}
	if utf8.RuneCountInString(n) > maxEnvironmentName {
		return n, fmt.Errorf("%.20q... is longer than %d characters", n, maxEnvironmentName)
	}
	for _, r := range n {
		if unicode.IsControl(r) {
			return n, fmt.Errorf("%q holds a control character", n)
		}
	}
	return n, nil
}

// parseURL reads CATTLE_URL: parsed here, once (rancher.Options carries the Endpoint).
func parseURL(s *settings, v value) error {
	if v.text == "" {
		return nil // requireRancher says so
	}
	s.rancherURL = v.text
	var err error
	s.updater.Rancher.Endpoint, err = parseCattleURL(v.text)
	return err
}

// parseCattleURL parses a Rancher URL, with a hint for a URL without a scheme.
func parseCattleURL(raw string) (rancher.Endpoint, error) {
	if lower := strings.ToLower(raw); !strings.Contains(raw, "://") && !strings.HasPrefix(lower, "http:") && !strings.HasPrefix(lower, "https:") {
		return rancher.Endpoint{}, fmt.Errorf("%q has no scheme: did you mean http://%s (or https://)?", raw, strings.TrimLeft(raw, "/"))
	}
	ep, err := rancher.ParseURL(raw)
	if errors.Is(err, rancher.ErrUserInfo) {
		err = fmt.Errorf("%w: give the keys in %s and %s", err, name(setting.AccessKey), name(setting.SecretKey))
	}
	return ep, err
}

// maxCAFile bounds a CA file: a private CA's chain is a few KiB; a whole public bundle (about 200 KiB) is not
// what the setting is for, and still fits.
const maxCAFile = 1 << 20

// parseCA reads the Rancher server's CA: RANCHER_CA_CERT is the path of a PEM file, or the PEM itself (a catalog's
// multiline answer, or one line with \n for the line breaks); RANCHER_CA_CERT_FILE's file holds the PEM. It must
// hold at least one X.509 certificate, and nothing but certificates.
func parseCA(s *settings, v value) error {
	text, where, source := v.text, "the PEM", "PEM in "+v.from
	switch {
	case text == "":
		return nil
	case v.file != "":
		where, source = v.file, v.source()
	case !strings.Contains(text, "-----BEGIN"):
		where, source = text, "file "+text+" ("+v.from+")"
		var err error
		if text, err = readFile(where, maxCAFile); err != nil {
			return err
		}
	case !strings.Contains(text, "\n"):
		text = strings.ReplaceAll(text, `\n`, "\n")
	}
	n, err := parseCertificates(text)
	if err != nil {
		return fmt.Errorf("%s %w", where, err)
	}
	s.updater.Rancher.CAPEM = []byte(text)
	s.caSource = fmt.Sprintf("%s, %d certificate(s)", source, n)
	return nil
}

// parseCertificates counts the certificates of a PEM text: at least one, every one an X.509 certificate, and no
// other kind of block (a private key pasted by mistake is refused, and never shown).
func parseCertificates(text string) (int, error) {
	n := 0
	for rest := []byte(text); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return 0, fmt.Errorf("holds a %q PEM block: give the CA's certificate (-----BEGIN CERTIFICATE-----) only", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return 0, fmt.Errorf("holds a certificate (number %d) that does not parse: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return 0, errors.New("holds no PEM certificate (-----BEGIN CERTIFICATE-----, base64, -----END CERTIFICATE-----)")
	}
	return n, nil
}
