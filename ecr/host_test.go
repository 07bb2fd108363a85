package ecr

import (
	"errors"
	"strings"
	"testing"
)

func TestParseServerAddress(t *testing.T) {
	cases := []struct {
		in                    string
		host, account, region string
		suffix                string
		fips, dual, exact     bool
	}{
		{in: "123456789012.dkr.ecr.us-east-1.amazonaws.com", host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", account: "123456789012", region: "us-east-1", suffix: "amazonaws.com", exact: true},
		{in: "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", host: "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", account: "123456789012", region: "us-gov-west-1", suffix: "amazonaws.com", fips: true, exact: true},
		{in: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", host: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", account: "123456789012", region: "cn-north-1", suffix: "amazonaws.com.cn", exact: true},
		{in: "123456789012.dkr-ecr.eu-west-1.on.aws", host: "123456789012.dkr-ecr.eu-west-1.on.aws", account: "123456789012", region: "eu-west-1", suffix: "on.aws", dual: true, exact: true},
		{in: "123456789012.dkr-ecr-fips.us-east-2.on.aws", host: "123456789012.dkr-ecr-fips.us-east-2.on.aws", account: "123456789012", region: "us-east-2", suffix: "on.aws", dual: true, fips: true, exact: true},
		{in: "123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn", host: "123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn", account: "123456789012", region: "cn-northwest-1", suffix: "on.amazonwebservices.com.cn", dual: true, exact: true},
		{in: "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov", host: "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov", account: "123456789012", region: "us-iso-east-1", suffix: "c2s.ic.gov", exact: true},
		{in: "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", host: "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", account: "123456789012", region: "us-isob-east-1", suffix: "sc2s.sgov.gov", exact: true},
		{in: "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", host: "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", account: "123456789012", region: "eu-isoe-west-1", suffix: "cloud.adc-e.uk", exact: true},
		{in: "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov", host: "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov", account: "123456789012", region: "us-isof-south-1", suffix: "csp.hci.ic.gov", exact: true},
		{in: "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu", host: "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu", account: "123456789012", region: "eusc-de-east-1", suffix: "amazonaws.eu", exact: true},
		// Variants a user may have typed: normalised, still in scope; only the bare host (any case) is exact.
		{in: "123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM", host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", account: "123456789012", region: "us-east-1", suffix: "amazonaws.com", exact: true},
		{in: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com", host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", account: "123456789012", region: "us-east-1", suffix: "amazonaws.com"},
		{in: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/", host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", account: "123456789012", region: "us-east-1", suffix: "amazonaws.com"},
		{in: "123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/", host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", account: "123456789012", region: "us-east-1", suffix: "amazonaws.com"},
		{in: "123456789012.dkr.ecr.us-east-1.amazonaws.com:443", host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", account: "123456789012", region: "us-east-1", suffix: "amazonaws.com"},
		{in: "  123456789012.dkr.ecr.us-east-1.amazonaws.com\t", host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", account: "123456789012", region: "us-east-1", suffix: "amazonaws.com"},
		{in: "123456789012.dkr.ecr.us-east-1.amazonaws.com.", host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", account: "123456789012", region: "us-east-1", suffix: "amazonaws.com"},
		{in: "http://123456789012.dkr.ecr.ap-southeast-2.amazonaws.com:443/path", host: "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com", account: "123456789012", region: "ap-southeast-2", suffix: "amazonaws.com"},
	}
	for _, tc := range cases {
		got, err := ParseServerAddress(tc.in)
		if err != nil {
			t.Errorf("ParseServerAddress(%q): %v", tc.in, err)
			continue
		}
		want := Registry{Host: tc.host, Account: tc.account, Region: tc.region, Suffix: tc.suffix, FIPS: tc.fips, DualStack: tc.dual, Exact: tc.exact}
		if got != want {
			t.Errorf("ParseServerAddress(%q)\n got %+v\nwant %+v", tc.in, got, want)
		}
	}
}

func TestParseServerAddressNotECR(t *testing.T) {
	for _, in := range []string{"index.docker.io", "docker.io", "quay.io", "registry.example.com:5000", "public.ecr.aws",
		"https://public.ecr.aws/", "localhost:5000", "10.0.0.1:5000", "gcr.io/project", "ecr.example.com"} {
		_, err := ParseServerAddress(in)
		if !errors.Is(err, ErrNotECR) {
			t.Errorf("ParseServerAddress(%q) = %v, want ErrNotECR", in, err)
		}
	}
}

func TestParseServerAddressUnparsable(t *testing.T) {
	for _, in := range []string{"", "   ", "http://[::1", "http://", "exa mple.com", "host:notaport", "host:99999",
		"https://user:pw@123456789012.dkr.ecr.us-east-1.amazonaws.com", "12345.dkr.ecr.us-east-1.amazonaws.com",
		"123456789012.dkr.ecr.useast1.amazonaws.com", "123456789012.dkr.ecr.us-east-1.amazonaws.org",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com:5000", "[::1]:5000", "a..b", "-bad.example.com", "1234",
		"bad_host.example.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com\x00"} {
		_, err := ParseServerAddress(in)
		var ae *AddressError
		if !errors.As(err, &ae) {
			t.Errorf("ParseServerAddress(%q) = %v, want an *AddressError", in, err)
		}
	}
}

func TestWithAccount(t *testing.T) {
	r, err := ParseServerAddress("123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn")
	if err != nil {
		t.Fatal(err)
	}
	o := r.WithAccount("210987654321")
	if o.Host != "210987654321.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn" || o.Account != "210987654321" || o.Region != "cn-north-1" {
		t.Errorf("WithAccount: %+v", o)
	}
	back, err := ParseServerAddress(o.Host)
	if err != nil || back != o {
		t.Errorf("WithAccount host does not parse back: %+v %v", back, err)
	}
}

func TestValid(t *testing.T) {
	for _, s := range []string{"us-east-1", "cn-north-1", "us-gov-west-1", "us-isob-east-1", "eusc-de-east-1", "ap-southeast-12"} {
		if !ValidRegion(s) {
			t.Errorf("ValidRegion(%q) = false", s)
		}
	}
	for _, s := range []string{"", "us-east", "US-EAST-1", "us_east_1", "us-east-1a", "useast1"} {
		if ValidRegion(s) {
			t.Errorf("ValidRegion(%q) = true", s)
		}
	}
	if !ValidAccount("012345678901") || ValidAccount("12345678901") || ValidAccount("1234567890123") || ValidAccount("12345678901a") {
		t.Error("ValidAccount")
	}
}

// FuzzParseServerAddress checks that the parser never panics, that what it accepts is normalised and parses
// back to itself, and that what it rejects is one of its two errors.
func FuzzParseServerAddress(f *testing.F) {
	for _, s := range []string{"123456789012.dkr.ecr.us-east-1.amazonaws.com", "https://123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/",
		"123456789012.dkr-ecr.eu-west-1.on.aws:443", "docker.io", "http://[::1", "host:443", "", "a/b/c", "%zz://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseServerAddress(in)
		if err != nil {
			var ae *AddressError
			if !errors.Is(err, ErrNotECR) && !errors.As(err, &ae) {
				t.Fatalf("ParseServerAddress(%q): unexpected error type %T: %v", in, err, err)
			}
			return
		}
		if r.Host != strings.ToLower(r.Host) || strings.ContainsAny(r.Host, "/: ") {
			t.Fatalf("ParseServerAddress(%q): host %q not normalised", in, r.Host)
		}
		if !ValidAccount(r.Account) || !ValidRegion(r.Region) || !strings.HasPrefix(r.Host, r.Account+".") {
			t.Fatalf("ParseServerAddress(%q): bad parts %+v", in, r)
		}
		again, err := ParseServerAddress(r.Host)
		if err != nil || again.Host != r.Host || !again.Exact {
			t.Fatalf("ParseServerAddress(%q): host %q does not parse back: %+v %v", in, r.Host, again, err)
		}
	})
}
