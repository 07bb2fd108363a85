package ecr

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
		{in: "123456789012.dkr-ecr.us-gov-east-1.on.aws", host: "123456789012.dkr-ecr.us-gov-east-1.on.aws", account: "123456789012", region: "us-gov-east-1", suffix: "on.aws", dual: true, exact: true},
		// A region no partition's pattern knows is in the commercial partition, as the SDK resolves it.
		{in: "123456789012.dkr.ecr.nz-north-1.amazonaws.com", host: "123456789012.dkr.ecr.nz-north-1.amazonaws.com", account: "123456789012", region: "nz-north-1", suffix: "amazonaws.com", exact: true},
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

// TestParseServerAddressPartition: a region whose partition is not the domain's is not in scope: no token of that
// region opens such a host, and AWS serves none.
func TestParseServerAddressPartition(t *testing.T) {
	for in, partition := range map[string]string{
		"123456789012.dkr.ecr.us-east-1.amazonaws.com.cn":                 "aws",
		"123456789012.dkr-ecr.eu-west-1.on.amazonwebservices.com.cn":      "aws",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.eu":                     "aws",
		"123456789012.dkr.ecr.us-east-1.c2s.ic.gov":                       "aws",
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com":                   "aws-cn",
		"123456789012.dkr-ecr.cn-northwest-1.on.aws":                      "aws-cn",
		"123456789012.dkr.ecr.us-gov-west-1.amazonaws.com.cn":             "aws-us-gov",
		"123456789012.dkr.ecr.us-iso-east-1.amazonaws.com":                "aws-iso",
		"123456789012.dkr.ecr.us-iso-east-1.sc2s.sgov.gov":                "aws-iso",
		"123456789012.dkr.ecr.us-isob-east-1.c2s.ic.gov":                  "aws-iso-b",
		"123456789012.dkr.ecr.eu-isoe-west-1.csp.hci.ic.gov":              "aws-iso-e",
		"123456789012.dkr.ecr.us-isof-south-1.cloud.adc-e.uk":             "aws-iso-f",
		"123456789012.dkr-ecr.us-isof-east-1.on.aws":                      "aws-iso-f",
		"123456789012.dkr.ecr.eusc-de-east-1.amazonaws.com":               "aws-eusc",
		"https://123456789012.dkr.ecr.cn-north-1.amazonaws.com/":          "aws-cn",
		"123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM.CN":                 "aws",
		"123456789012.dkr-ecr-fips.us-east-1.on.amazonwebservices.com.cn": "aws",
	} {
		_, err := ParseServerAddress(in)
		var ae *AddressError
		if !errors.As(err, &ae) || !strings.Contains(ae.Reason, "in the AWS partition "+partition+",") {
			t.Errorf("ParseServerAddress(%q) = %v, want an *AddressError naming the partition %s", in, err, partition)
		}
	}
}

// TestPartitionsAreTheSDKs compares the partitions with aws-sdk-go-v2's own data, at the version in go.mod: every
// partition the SDK knows is here, its dnsSuffix is the first domain, and every region it lists (but its
// "-global" pseudo-regions) is placed in it.
func TestPartitionsAreTheSDKs(t *testing.T) {
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-sdk-go-v2").Output()
	if err != nil {
		t.Skipf("go list -m github.com/aws/aws-sdk-go-v2: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "internal", "endpoints", "awsrulesfn", "partitions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Partitions []struct {
			ID      string                     `json:"id"`
			Regions map[string]json.RawMessage `json:"regions"`
			Outputs struct {
				DNSSuffix string `json:"dnsSuffix"`
			} `json:"outputs"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Partitions) != len(partitions) {
		t.Errorf("the SDK has %d partitions, ecr knows %d", len(data.Partitions), len(partitions))
	}
	for _, sp := range data.Partitions {
		i := slices.IndexFunc(partitions, func(p partition) bool { return p.ID == sp.ID })
		if i < 0 {
			t.Errorf("partition %s is not known", sp.ID)
			continue
		}
		if partitions[i].Domains[0] != sp.Outputs.DNSSuffix {
			t.Errorf("partition %s: domain %s, the SDK's dnsSuffix is %s", sp.ID, partitions[i].Domains[0], sp.Outputs.DNSSuffix)
		}
		for region := range sp.Regions {
			if strings.HasSuffix(region, "-global") {
				continue
			}
			if got := partitionOf(region).ID; got != sp.ID {
				t.Errorf("region %s is in partition %s, the SDK says %s", region, got, sp.ID)
			}
			if !ValidRegion(region) {
				t.Errorf("region %s does not have the shape of a region", region)
			}
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
