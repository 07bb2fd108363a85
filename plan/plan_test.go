package plan

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/rancher"
)

const (
	acct  = "123456789012"
	other = "210987654321"
)

func host(account, region string) string { return account + ".dkr.ecr." + region + ".amazonaws.com" }

func token(region string) TokenResult {
	h := host(acct, region)
	reg, err := ecr.ParseServerAddress(h)
	if err != nil {
		panic(err)
	}
	issued := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	return TokenResult{Token: ecr.Token{Region: region, Password: redact.Secret("pw-" + region), IssuedAt: issued,
		ExpiresAt: issued.Add(12 * time.Hour), ProxyEndpoint: "https://" + h, Registry: reg}, ID: TokenID{Region: region, Serial: 7}}
}

// current is the id tokens gives the token of a region.
func current(region string) TokenID { return token(region).ID }

func tokens(regions ...string) map[string]TokenResult {
	m := map[string]TokenResult{}
	for _, r := range regions {
		m[r] = token(r)
	}
	return m
}

func reg(id, addr, state string) rancher.Registry {
	return rancher.Registry{ID: id, EnvID: "1a5", ServerAddress: addr, State: state}
}

func svc(id, name string, images ...string) rancher.Service {
	s := rancher.Service{ID: id, EnvID: "1a5", Name: name, State: "active", Kind: "service"}
	for i, img := range images {
		c := ""
		if i > 0 {
			c = fmt.Sprintf("sidekick-%d", i)
		}
		s.Images = append(s.Images, rancher.ServiceImage{Container: c, ImageUUID: img})
	}
	return s
}

func cred(id, regID, state string) rancher.Credential {
	return rancher.Credential{ID: id, EnvID: "1a5", RegistryID: regID, State: state}
}

// brief is a plan reduced to what the table compares.
type brief struct {
	Seen, InScope, Current int
	Actions                []string // "op registry credential region"
	Skipped                []string // "registry: reason prefix"
	Failures               []string // "registry"
	Unmatched              []string
}

func summarise(p EnvPlan) brief {
	b := brief{Seen: p.Seen, InScope: p.InScope, Current: p.Current}
	for _, a := range p.Actions {
		id := a.RegistryID
		if a.Op == OpCreateRegistry {
			id = a.ServerAddress
		}
		b.Actions = append(b.Actions, fmt.Sprintf("%s %s %s %s", a.Op, id, a.Credential.ID, a.Token.Region))
	}
	for _, s := range p.Skipped {
		b.Skipped = append(b.Skipped, s.RegistryID)
	}
	for _, f := range p.Failures {
		id := f.RegistryID
		if id == "" {
			id = f.ServerAddress
		}
		b.Failures = append(b.Failures, id)
	}
	for _, s := range p.Unmatched {
		b.Unmatched = append(b.Unmatched, s.RegistryID)
	}
	return b
}

func TestPlan(t *testing.T) {
	east, west, eu := host(acct, "us-east-1"), host(acct, "us-west-2"), host(acct, "eu-west-1")
	failed := tokens("us-east-1")
	failed["us-west-2"] = TokenResult{Err: errors.New("throttled")}

	cases := []struct {
		name   string
		rules  Rules
		regs   []rancher.Registry
		creds  []rancher.Credential
		tokens map[string]TokenResult
		held   map[string]TokenID // what the updater wrote into the credentials
		svcs   []rancher.Service
		want   brief
	}{
		{
			name:   "one registry one credential",
			regs:   []rancher.Registry{reg("1sp1", east, "active")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "active")},
			tokens: tokens("us-east-1"),
			want:   brief{Seen: 1, InScope: 1, Actions: []string{"update 1sp1 1c1 us-east-1"}},
		},
		{
			name: "three regions each get their own token",
			regs: []rancher.Registry{reg("1sp1", east, "active"), reg("1sp2", west, "active"), reg("1sp3", eu, "active")},
			creds: []rancher.Credential{cred("1c1", "1sp1", "active"), cred("1c2", "1sp2", "active"),
				cred("1c3", "1sp3", "active")},
			tokens: tokens("us-east-1", "us-west-2", "eu-west-1"),
			want: brief{Seen: 3, InScope: 3, Actions: []string{"update 1sp1 1c1 us-east-1", "update 1sp2 1c2 us-west-2",
				"update 1sp3 1c3 eu-west-1"}},
		},
		{
			name:   "other registries are untouched and not counted in scope",
			regs:   []rancher.Registry{reg("1sp1", "index.docker.io", "active"), reg("1sp2", "public.ecr.aws", "active"), reg("1sp3", "quay.io:5000", "active")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "active")},
			tokens: tokens(),
			want:   brief{Seen: 3},
		},
		{
			name: "states: removed and inactive credentials untouched, two active both updated, none gets one created",
			regs: []rancher.Registry{reg("1sp1", east, "active"), reg("1sp2", west, "active"), reg("1sp3", eu, "active")},
			creds: []rancher.Credential{
				cred("1c1", "1sp1", "active"), cred("1c2", "1sp1", "active"), cred("1c3", "1sp1", "inactive"),
				cred("1c4", "1sp2", "removed"), cred("1c5", "1sp2", "inactive"), cred("1c6", "1sp2", "removing"),
			},
			tokens: tokens("us-east-1", "us-west-2", "eu-west-1"),
			want: brief{Seen: 3, InScope: 3, Actions: []string{"update 1sp1 1c1 us-east-1", "update 1sp1 1c2 us-east-1",
				"create credential 1sp2  us-west-2", "create credential 1sp3  eu-west-1"}},
		},
		{
			name:   "a credential on its way to active is not duplicated",
			regs:   []rancher.Registry{reg("1sp1", east, "active")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "registering")},
			tokens: tokens("us-east-1"),
			want:   brief{Seen: 1, InScope: 1, Skipped: []string{"1sp1"}},
		},
		{
			name:   "inactive and removing registries are skipped, not written",
			regs:   []rancher.Registry{reg("1sp1", east, "inactive"), reg("1sp2", west, "removing"), reg("1sp3", "docker.io", "inactive")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "active"), cred("1c2", "1sp2", "active")},
			tokens: tokens("us-east-1", "us-west-2"),
			want:   brief{Seen: 3, Skipped: []string{"1sp1", "1sp2"}},
		},
		{
			name: "an unparsable address before valid ones does not stop the pass",
			regs: []rancher.Registry{reg("1sp1", "12345.dkr.ecr.us-east-1.amazonaws.com", "active"), reg("1sp2", "http://[::1", "active"),
				reg("1sp3", east+":5000", "active"), reg("1sp4", east, "active")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "active"), cred("1c4", "1sp4", "active")},
			tokens: tokens("us-east-1"),
			want:   brief{Seen: 4, InScope: 1, Skipped: []string{"1sp1", "1sp2", "1sp3"}, Actions: []string{"update 1sp4 1c4 us-east-1"}},
		},
		{
			name: "address variants are all in scope; those Rancher cannot match are flagged",
			regs: []rancher.Registry{reg("1sp1", "https://"+east, "active"), reg("1sp2", strings.ToUpper(east)+"/", "active"),
				reg("1sp3", " "+east+":443 ", "active"), reg("1sp4", strings.ToUpper(east), "active")},
			creds: []rancher.Credential{cred("1c1", "1sp1", "active"), cred("1c2", "1sp2", "active"),
				cred("1c3", "1sp3", "active"), cred("1c4", "1sp4", "active")},
			tokens: tokens("us-east-1"),
			want: brief{Seen: 4, InScope: 4, Unmatched: []string{"1sp1", "1sp2", "1sp3"}, Actions: []string{
				"update 1sp1 1c1 us-east-1", "update 1sp2 1c2 us-east-1", "update 1sp3 1c3 us-east-1", "update 1sp4 1c4 us-east-1"}},
		},
		{
			name:   "account scoping",
			rules:  Rules{Accounts: []string{other}},
			regs:   []rancher.Registry{reg("1sp1", east, "active"), reg("1sp2", host(other, "us-east-1"), "active")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "active"), cred("1c2", "1sp2", "active")},
			tokens: tokens("us-east-1"),
			want:   brief{Seen: 2, InScope: 1, Actions: []string{"update 1sp2 1c2 us-east-1"}},
		},
		{
			name:   "region scoping",
			rules:  Rules{Regions: []string{"us-west-2"}},
			regs:   []rancher.Registry{reg("1sp1", east, "active"), reg("1sp2", west, "active")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "active"), cred("1c2", "1sp2", "active")},
			tokens: tokens("us-west-2"),
			want:   brief{Seen: 2, InScope: 1, Actions: []string{"update 1sp2 1c2 us-west-2"}},
		},
		{
			name:   "a failed region token fails its registries only",
			regs:   []rancher.Registry{reg("1sp1", east, "active"), reg("1sp2", west, "active")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "active"), cred("1c2", "1sp2", "active")},
			tokens: failed,
			want:   brief{Seen: 2, InScope: 2, Actions: []string{"update 1sp1 1c1 us-east-1"}, Failures: []string{"1sp2"}},
		},
		{
			name:   "ordering is by Cattle id, not text",
			regs:   []rancher.Registry{reg("1sp10", west, "active"), reg("1sp9", east, "active")},
			creds:  []rancher.Credential{cred("1c10", "1sp10", "active"), cred("1c9", "1sp9", "active")},
			tokens: tokens("us-east-1", "us-west-2"),
			want:   brief{Seen: 2, InScope: 2, Actions: []string{"update 1sp9 1c9 us-east-1", "update 1sp10 1c10 us-west-2"}},
		},
		{
			name:   "AUTO_CREATE creates the caller's registry when missing",
			rules:  Rules{AutoCreate: true, HomeRegion: "us-east-1"},
			regs:   []rancher.Registry{reg("1sp1", "docker.io", "active")},
			tokens: tokens("us-east-1"),
			want:   brief{Seen: 1, Actions: []string{"create registry " + east + "  us-east-1"}},
		},
		{
			name:   "AUTO_CREATE finds the registry in any spelling, so never a duplicate",
			rules:  Rules{AutoCreate: true, HomeRegion: "us-east-1"},
			regs:   []rancher.Registry{reg("1sp1", "https://"+strings.ToUpper(east)+"/", "active")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "active")},
			tokens: tokens("us-east-1"),
			want:   brief{Seen: 1, InScope: 1, Unmatched: []string{"1sp1"}, Actions: []string{"update 1sp1 1c1 us-east-1"}},
		},
		{
			name:   "AUTO_CREATE leaves an inactive registry of that host alone",
			rules:  Rules{AutoCreate: true, HomeRegion: "us-east-1"},
			regs:   []rancher.Registry{reg("1sp1", east, "inactive")},
			tokens: tokens("us-east-1"),
			want:   brief{Seen: 1, Skipped: []string{"1sp1"}},
		},
		{
			name:   "AUTO_CREATE with registry ids creates each listed account's registry",
			rules:  Rules{AutoCreate: true, HomeRegion: "us-east-1", Accounts: []string{acct, other}},
			regs:   []rancher.Registry{reg("1sp1", east, "active")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "active")},
			tokens: tokens("us-east-1"),
			want: brief{Seen: 1, InScope: 1, Actions: []string{"update 1sp1 1c1 us-east-1",
				"create registry " + host(other, "us-east-1") + "  us-east-1"}},
		},
		{
			name:   "AUTO_CREATE without a home token is a failure, not a guess",
			rules:  Rules{AutoCreate: true, HomeRegion: "us-west-2"},
			tokens: failed,
			want:   brief{Failures: []string{"(auto-creation in us-west-2)"}},
		},
		{
			name: "a registry and a credential listed twice (overlapping pages) are written once",
			regs: []rancher.Registry{reg("1sp1", east, "active"), reg("1sp2", west, "active"), reg("1sp1", east, "active"),
				reg("1sp2", west, "active")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "active"), cred("1c1", "1sp1", "active")},
			tokens: tokens("us-east-1", "us-west-2"),
			want:   brief{Seen: 2, InScope: 2, Actions: []string{"update 1sp1 1c1 us-east-1", "create credential 1sp2  us-west-2"}},
		},
		{
			name:   "rule 5: a retry leaves the credentials that hold their region's current token alone",
			regs:   []rancher.Registry{reg("1sp1", east, "active"), reg("1sp2", west, "active"), reg("1sp3", eu, "active")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "active"), cred("1c2", "1sp2", "active"), cred("1c3", "1sp3", "active")},
			tokens: tokens("us-east-1", "us-west-2", "eu-west-1"),
			held:   map[string]TokenID{"1c1": current("us-east-1"), "1c3": current("eu-west-1")},
			want:   brief{Seen: 3, InScope: 3, Current: 2, Actions: []string{"update 1sp2 1c2 us-west-2"}},
		},
		{
			name:   "rule 5: a credential that holds an older token of its region, or another region's, is written",
			regs:   []rancher.Registry{reg("1sp1", east, "active"), reg("1sp2", west, "active")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "active"), cred("1c2", "1sp2", "active")},
			tokens: tokens("us-east-1", "us-west-2"),
			held:   map[string]TokenID{"1c1": {Region: "us-east-1", Serial: 6}, "1c2": current("us-east-1")},
			want:   brief{Seen: 2, InScope: 2, Actions: []string{"update 1sp1 1c1 us-east-1", "update 1sp2 1c2 us-west-2"}},
		},
		{
			name:   "rule 5: without a token for its region a current credential is a failure like the others",
			regs:   []rancher.Registry{reg("1sp1", east, "active"), reg("1sp2", west, "active")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "active"), cred("1c2", "1sp2", "active")},
			tokens: failed,
			held:   map[string]TokenID{"1c1": current("us-east-1"), "1c2": current("us-west-2")},
			want:   brief{Seen: 2, InScope: 2, Current: 1, Failures: []string{"1sp2"}},
		},
		{
			name:   "rule 5: a pass for a change writes what is not current, and creates what is missing",
			regs:   []rancher.Registry{reg("1sp1", east, "active"), reg("1sp2", west, "active"), reg("1sp3", eu, "active")},
			creds:  []rancher.Credential{cred("1c1", "1sp1", "active"), cred("1c2", "1sp2", "active")},
			tokens: tokens("us-east-1", "us-west-2", "eu-west-1"),
			held:   map[string]TokenID{"1c2": current("us-west-2")},
			want:   brief{Seen: 3, InScope: 3, Current: 1, Actions: []string{"update 1sp1 1c1 us-east-1", "create credential 1sp3  eu-west-1"}},
		},
		{
			name:  "DISCOVER_REGISTRIES creates the in-scope ECR registries services use and the environment lacks, once each",
			rules: Rules{Discover: true, Accounts: []string{acct}},
			regs:  []rancher.Registry{reg("1sp1", east, "active"), reg("1sp2", host(acct, "eu-west-1"), "inactive")},
			creds: []rancher.Credential{cred("1c1", "1sp1", "active")},
			svcs: []rancher.Service{
				svc("1s1", "web", "docker:"+west+"/web:1", "docker:nginx:1.25", "docker:"+host(other, "us-west-2")+"/x"),
				svc("1s2", "api", "docker:"+strings.ToUpper(west)+"/api@sha256:"+strings.Repeat("a", 64), "docker:"+east+"/side"),
				svc("1s3", "old", "docker:"+host(acct, "ap-south-1")+"/old"),
				svc("1s4", "db", "docker:"+host(acct, "eu-west-1")+"/db", "docker:quay.io/x/y", "docker:public.ecr.aws/z/w"),
			},
			tokens: tokens("us-east-1", "us-west-2", "ap-south-1"),
			want: brief{Seen: 2, InScope: 1, Skipped: []string{"1sp2"}, Actions: []string{"update 1sp1 1c1 us-east-1",
				"create registry " + west + "  us-west-2", "create registry " + host(acct, "ap-south-1") + "  ap-south-1"}},
		},
		{
			name:   "a discovered registry without a token is a failure, nothing is guessed",
			rules:  Rules{Discover: true},
			svcs:   []rancher.Service{svc("1s1", "web", "docker:"+eu+"/web")},
			tokens: failed,
			want:   brief{Failures: []string{eu}},
		},
		{
			name:   "without DISCOVER_REGISTRIES the services change nothing",
			svcs:   []rancher.Service{svc("1s1", "web", "docker:"+west+"/web")},
			tokens: tokens("us-west-2"),
			want:   brief{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := Snapshot{Env: "1a5", Registries: tc.regs, Credentials: tc.creds, Services: tc.svcs, Held: tc.held}
			got := summarise(Plan(tc.rules, snap, Classify(tc.rules, snap), tc.tokens))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("plan\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPlanNeverWritesWithoutAPassword(t *testing.T) {
	// Every action carries the token of its own region, and that token has a password.
	regs := []rancher.Registry{reg("1sp1", host(acct, "us-east-1"), "active"), reg("1sp2", host(acct, "eu-west-1"), "active")}
	snap := Snapshot{Env: "1a5", Registries: regs}
	p := Plan(Rules{}, snap, Classify(Rules{}, snap), tokens("us-east-1", "eu-west-1"))
	if len(p.Actions) != 2 {
		t.Fatalf("actions: %+v", p.Actions)
	}
	for _, a := range p.Actions {
		h, _ := ecr.ParseServerAddress(a.ServerAddress)
		if a.Token.Region != h.Region || a.Token.Password.Empty() {
			t.Errorf("action %+v has the token of %s", a, a.Token.Region)
		}
	}
}

func TestRegions(t *testing.T) {
	snaps := []Snapshot{
		{Registries: []rancher.Registry{reg("1sp1", host(acct, "us-west-2"), "active"), reg("1sp2", "docker.io", "active"),
			reg("1sp3", host(acct, "ap-south-1"), "inactive")}},
		{Registries: []rancher.Registry{reg("1sp4", host(other, "us-west-2"), "active"), reg("1sp5", host(acct, "eu-central-1"), "active")}},
	}
	cases := []struct {
		rules Rules
		want  []string
	}{
		{Rules{}, []string{"eu-central-1", "us-west-2"}},
		{Rules{AutoCreate: true, HomeRegion: "us-east-1"}, []string{"eu-central-1", "us-east-1", "us-west-2"}},
		{Rules{Regions: []string{"us-west-2"}}, []string{"us-west-2"}},
		{Rules{Accounts: []string{other}}, []string{"us-west-2"}},
	}
	for _, tc := range cases {
		var classes []Classes
		for _, s := range snaps {
			classes = append(classes, Classify(tc.rules, s))
		}
		if got := Regions(tc.rules, classes); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Regions(%+v) = %v, want %v", tc.rules, got, tc.want)
		}
	}
	if got := Regions(Rules{}, nil); len(got) != 0 {
		t.Errorf("no registries need no token: %v", got)
	}
}

// TestRegistryFor: the registry Rancher 1.6 uses for an image (Cattle's DockerImageCredentialLookup): the image's
// registry part equal to an active registry's serverAddress, case aside, exactly; the first such registry by id.
func TestRegistryFor(t *testing.T) {
	east := host(acct, "us-east-1")
	regs := []rancher.Registry{
		reg("1sp10", strings.ToUpper(east), "active"),
		reg("1sp9", east, "active"),
		reg("1sp3", host(acct, "eu-west-1"), "inactive"),
		reg("1sp4", "https://"+host(acct, "us-west-2")+"/", "active"),
		reg("1sp5", host(acct, "ap-south-1")+":443", "active"),
		reg("1sp6", "localhost:5000", "active"),
		reg("1sp7", "docker.io", "active"),
		reg("1sp8", "quay.io", "removed"),
	}
	for _, tc := range []struct {
		image, want string // want: the registry id, "" for none
	}{
		{"docker:" + east + "/app:1", "1sp9"}, // two spellings of one host: the first by id
		{east + "/team/app@sha256:" + strings.Repeat("a", 64), "1sp9"},
		{"docker:" + strings.ToUpper(east) + "/app", "1sp9"},
		{"docker:" + host(acct, "eu-west-1") + "/app", ""},  // only an inactive registry has it
		{"docker:" + host(acct, "us-west-2") + "/app", ""},  // a scheme and a slash never match
		{"docker:" + host(acct, "ap-south-1") + "/app", ""}, // nor does another port
		{"docker:" + host(acct, "ap-south-1") + ":443/app", "1sp5"},
		{"docker:localhost:5000/app", "1sp6"},
		{"docker:nginx:1.25", ""}, // a Docker Hub image names no registry
		{"docker:library/nginx", ""},
		{"docker:quay.io/x/y", ""}, // removed
		{"docker:", ""},
	} {
		got, ok := RegistryFor(tc.image, regs)
		if ok != (tc.want != "") || got.ID != tc.want {
			t.Errorf("RegistryFor(%q) = %q, %v; want %q", tc.image, got.ID, ok, tc.want)
		}
	}
}
