// Package ecr knows AWS: the host names of ECR registries (parsed in this one place), fetching one
// authorization token per region with GetAuthorizationToken through aws-sdk-go-v2, decoding and validating
// those tokens, and explaining AWS errors in terms an operator can act on.
//
// A token is valid for every registry the IAM principal may access in its region, whatever the account, and for
// no other region; so the updater needs exactly one token per region in use. registryIds is deprecated and is
// never sent.
package ecr

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ErrNotECR is returned (wrapped) by ParseServerAddress for an address that is not a private ECR registry.
var ErrNotECR = errors.New("not an ECR registry")

// AddressError says why a registry address cannot be parsed.
type AddressError struct {
	Address string
	Reason  string
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("cannot parse registry address %q: %s", e.Address, e.Reason)
}

// Registry is a private ECR registry, as named by a host.
type Registry struct {
	// Host is the normalised host name: lower case, without scheme, path, trailing slash or :443.
	Host string
	// Account is the 12-digit AWS account id.
	Account string
	// Region is the AWS region, e.g. us-east-1.
	Region string
	// Suffix is the DNS suffix after the region, e.g. amazonaws.com or on.aws.
	Suffix string
	// FIPS and DualStack tell which endpoint family the host belongs to.
	FIPS, DualStack bool
	// Exact is true when the address was the bare host already (case aside), the only form Rancher
	// matches images against. A scheme, path or trailing slash make it false.
	Exact bool
}

// WithAccount returns the registry host of another account in the same region and endpoint family.
func (r Registry) WithAccount(account string) Registry {
	out := r
	out.Account = account
	out.Host = account + strings.TrimPrefix(r.Host, r.Account)
	out.Exact = true
	return out
}

// regionPattern is the shape of a region name: us-east-1, cn-north-1, us-gov-west-1, us-isob-east-1, eusc-de-east-1.
const regionPattern = `[a-z]{2,5}(?:-[a-z]+)+-[0-9]{1,2}`

// ecrHost matches every known shape of a private ECR registry host (and ParseServerAddress then checks that the
// region's partition is the domain's, see partitions):
//
//	<account>.dkr.ecr.<region>.amazonaws.com           standard
//	<account>.dkr.ecr-fips.<region>.amazonaws.com      FIPS
//	<account>.dkr.ecr.<region>.amazonaws.com.cn        China
//	<account>.dkr-ecr.<region>.on.aws                  dual-stack (also dkr-ecr-fips)
//	<account>.dkr-ecr.<region>.on.amazonwebservices.com.cn
//	<account>.dkr.ecr.<region>.c2s.ic.gov, .sc2s.sgov.gov, .cloud.adc-e.uk, .csp.hci.ic.gov   isolated regions
//	<account>.dkr.ecr.<region>.amazonaws.eu            EU sovereign cloud
var ecrHost = regexp.MustCompile(`^([0-9]{12})\.(dkr\.ecr|dkr\.ecr-fips|dkr-ecr|dkr-ecr-fips)\.` +
	`(` + regionPattern + `)\.` +
	`(amazonaws\.com|amazonaws\.com\.cn|on\.aws|on\.amazonwebservices\.com\.cn|c2s\.ic\.gov|sc2s\.sgov\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov|amazonaws\.eu)$`)

// partition is an AWS partition: its id and the DNS domains its ECR registry hosts end in.
type partition struct {
	ID      string
	Domains []string // the standard domain first, then the dual-stack one (if any)
	region  *regexp.Regexp
}

// partitions are the AWS partitions with the region patterns of aws-sdk-go-v2's endpoint partitions
// (internal/endpoints/awsrulesfn/partitions.json; the patterns do not overlap, so their order does not matter;
// TestPartitionsAreTheSDKs compares them). The domains are ECR's: the partition's dnsSuffix, and the dual-stack
// domain where ECR has dual-stack registry hosts (dkr-ecr.<region>.on.aws in the commercial and GovCloud
// partitions, and its China counterpart).
var partitions = []partition{
	{ID: "aws", Domains: []string{"amazonaws.com", "on.aws"}, region: regexp.MustCompile(`^(us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-[0-9]+$`)},
	{ID: "aws-cn", Domains: []string{"amazonaws.com.cn", "on.amazonwebservices.com.cn"}, region: regexp.MustCompile(`^cn-[a-z]+-[0-9]+$`)},
	{ID: "aws-us-gov", Domains: []string{"amazonaws.com", "on.aws"}, region: regexp.MustCompile(`^us-gov-[a-z]+-[0-9]+$`)},
	{ID: "aws-iso", Domains: []string{"c2s.ic.gov"}, region: regexp.MustCompile(`^us-iso-[a-z]+-[0-9]+$`)},
	{ID: "aws-iso-b", Domains: []string{"sc2s.sgov.gov"}, region: regexp.MustCompile(`^us-isob-[a-z]+-[0-9]+$`)},
	{ID: "aws-iso-e", Domains: []string{"cloud.adc-e.uk"}, region: regexp.MustCompile(`^eu-isoe-[a-z]+-[0-9]+$`)},
	{ID: "aws-iso-f", Domains: []string{"csp.hci.ic.gov"}, region: regexp.MustCompile(`^us-isof-[a-z]+-[0-9]+$`)},
	{ID: "aws-eusc", Domains: []string{"amazonaws.eu"}, region: regexp.MustCompile(`^eusc-de-[a-z]+-[0-9]+$`)},
}

// partitionOf returns the partition of a region: the first whose pattern matches it, else the commercial one
// (aws), as the SDK resolves an unknown region.
func partitionOf(region string) partition {
	for _, p := range partitions {
		if p.region.MatchString(region) {
			return p
		}
	}
	return partitions[0]
}

// looksLikeECR catches hosts that try to be ECR registries but do not fit a known shape (a short account id, a
// typo in the region), so that they are reported instead of silently ignored.
var looksLikeECR = regexp.MustCompile(`(^|\.)dkr[.-]ecr(-fips)?\.`)

// validHost is what a DNS name or IPv4 address may contain.
var validHost = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)

// ParseServerAddress normalises a Rancher registry serverAddress (trim, drop scheme, path, trailing slash and a
// :443 port, lower-case) and parses it as an ECR registry host. It returns an error wrapping ErrNotECR for any
// other registry (public.ecr.aws included, which needs no credential), and an *AddressError for an address that
// cannot be parsed at all, that looks like ECR without fitting any ECR host shape, or whose region is not in the
// partition of its domain (…us-east-1.amazonaws.com.cn, …cn-north-1.amazonaws.com: hosts no token opens).
func ParseServerAddress(address string) (Registry, error) {
	host, exact, err := normalise(address)
	if err != nil {
		return Registry{}, err
	}
	name, port, hasPort := strings.Cut(host, ":")
	m := ecrHost.FindStringSubmatch(name)
	if m == nil {
		if looksLikeECR.MatchString(name) {
			return Registry{}, &AddressError{Address: address, Reason: "it looks like an ECR registry but is not <12-digit account>.dkr.ecr.<region>.<aws domain>"}
		}
		return Registry{}, fmt.Errorf("%s: %w", host, ErrNotECR)
	}
	if hasPort {
		return Registry{}, &AddressError{Address: address, Reason: "ECR registries listen on port 443 only, not " + port}
	}
	if p := partitionOf(m[3]); !slices.Contains(p.Domains, m[4]) {
		return Registry{}, &AddressError{Address: address, Reason: fmt.Sprintf("region %s is in the AWS partition %s, whose registry hosts end in .%s, not .%s",
			m[3], p.ID, strings.Join(p.Domains, " or ."), m[4])}
	}
	return Registry{
		Host:      name,
		Account:   m[1],
		Region:    m[3],
		Suffix:    m[4],
		FIPS:      strings.HasSuffix(m[2], "-fips"),
		DualStack: strings.HasPrefix(m[2], "dkr-"),
		Exact:     exact,
	}, nil
}

// NormaliseHost returns the host a registry address names, in the form ParseServerAddress compares: lower case,
// without scheme, path, trailing slash or :443. It serves registries of any kind, ECR or not.
func NormaliseHost(address string) (string, error) {
	host, _, err := normalise(address)
	return host, err
}

func normalise(address string) (host string, exact bool, err error) {
	s := strings.TrimSpace(address)
	if s == "" {
		return "", false, &AddressError{Address: address, Reason: "it is empty"}
	}
	hostPort, exact, reason := hostPart(s)
	exact = exact && s == address
	var name, port string
	if reason == "" {
		name, port, reason = splitPort(hostPort)
	}
	if reason == "" {
		reason = checkHostName(name)
	}
	if reason != "" {
		return "", false, &AddressError{Address: address, Reason: reason}
	}
	switch port {
	case "", "443":
		return name, exact && port == "", nil
	default:
		return name + ":" + port, exact, nil
	}
}

// hostPart is the host (and port) of a trimmed address, lower case and without a trailing dot: the URL's host, or
// the text before the first "/". exact is false when anything was taken away; reason says what is wrong.
func hostPart(s string) (hostPort string, exact bool, reason string) {
	exact = true
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		switch {
		case err != nil || u.Host == "":
			return "", false, "it is not a URL with a host"
		case u.User != nil:
			return "", false, "it carries user information"
		}
		s, exact = u.Host, false
	} else if i := strings.IndexByte(s, '/'); i >= 0 {
		s, exact = s[:i], false
	}
	s = strings.ToLower(s)
	if strings.HasSuffix(s, ".") {
		s, exact = strings.TrimSuffix(s, "."), false
	}
	return s, exact, ""
}

// splitPort splits host[:port]; the port comes back as a plain number ("0443" is "443").
func splitPort(s string) (name, port, reason string) {
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") > 1 {
		return "", "", "IPv6 literals are not registry host names"
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, "", ""
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 1 || n > 65535 {
		return "", "", "the port is not a number from 1 to 65535"
	}
	return s[:i], strconv.Itoa(n), ""
}

// checkHostName says what is wrong with a host name: "" when nothing is.
func checkHostName(name string) string {
	if name == "" || len(name) > 253 || !validHost.MatchString(name) || strings.Contains(name, "..") {
		return "the host name has characters a host name cannot have"
	}
	if ip := net.ParseIP(name); ip == nil && strings.Trim(name, "0123456789.") == "" {
		return "the host name is all digits"
	}
	return ""
}

var (
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	regionRE  = regexp.MustCompile(`^` + regionPattern + `$`)
)

// ValidAccount reports whether s is a 12-digit AWS account id.
func ValidAccount(s string) bool { return accountRE.MatchString(s) }

// ValidRegion reports whether s has the shape of an AWS region name (us-east-1, cn-north-1, us-gov-west-1,
// us-isob-east-1, eusc-de-east-1).
func ValidRegion(s string) bool { return regionRE.MatchString(s) }
