package updater

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/internal/promtext"
	"github.com/ecr-updater/ecr-updater/internal/promtext/promtexttest"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// TestMetricsExposition runs the loop's first pass against the stand-ins over two environments, one of them with a
// name holding quotes, a backslash, a newline and UTF-8 (one region's token refused and one Rancher write failing
// there, so that every family has series), scrapes /metrics over HTTP, plain and gzip-compressed, has Prometheus's
// own parser and linter judge both (promtexttest), and checks the families against the metrics table of
// docs/health-and-metrics.md and the
// values against what the pass did. The state gauges are read from Health at the scrape: a change of Health shows
// at the next scrape.
func TestMetricsExposition(t *testing.T) {
	const odd = "Prod \"blue\" \\ lab\nsecond line – café ☃"
	m := newMulti(t, odd) // Default and odd, each with a us-east-1 credential; odd with quay.io too
	w, oddEnv := m.world, m.envs[odd]
	oddLabel := oddEnv + " (" + odd + ")"
	bad := w.registry(oddEnv, ecrHost(acct, "us-west-2"), "active")
	euCred := w.registry(oddEnv, ecrHost(acct, "eu-west-1"), "active")
	w.ecr.AddFault(ecrtest.Fault{Region: "eu-west-1", Code: "AccessDeniedException"})
	w.rancher.AddFault(ranchertest.Fault{Method: http.MethodPut, PathContains: "/" + bad, Status: http.StatusInternalServerError})

	reg := promtext.NewRegistry()
	cfg := m.config("all")
	cfg.Metrics = NewMetrics(reg, "v9.9.9", "abc1234")
	l := w.startLoop(t, cfg)
	next := l.next(t) // the loop sleeps: the pass is recorded in Health
	res := l.last()
	if res.OK() || res.Status != StatusDegraded || res.Updated != 2 {
		t.Fatalf("pass: ok %v, status %s, updated %d; want a degraded pass that updated 2", res.OK(), res.Status, res.Updated)
	}
	w.wantFresh(m.creds[oddEnv], "us-east-1")
	health := l.u.Health()
	health.setStream(oddLabel, StreamConnected) // no stream runs here (EVENTS is off): the gauge reads Health
	health.setStream(w.env+" (Default)", StreamLost)

	srv := httptest.NewServer(Handler(health, reg))
	defer srv.Close()
	body, resp := scrapeMetrics(t, srv.URL+"/metrics", "identity")
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	fams := promtexttest.Parse(t, body)
	t.Logf("%d families, %d promlint problems", len(fams), len(promtexttest.Lint(t, fams)))
	checkDocTable(t, fams)

	esc := strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace
	if want := `ecr_updater_events_connected{env="` + esc(oddLabel) + `"} 1` + "\n"; !bytes.Contains(body, []byte(want)) {
		t.Errorf("no line %q in\n%s", want, body)
	}
	// Values that the pass determines.
	want := map[string]float64{
		`ecr_updater_passes_total{result="degraded"}`: 1,
		`ecr_updater_registry_failing{env="` + esc(oddLabel) + `",reason="token",registry="` + w.cred(euCred).RegistryID + `"}`: 1,
		`ecr_updater_registry_failing{env="` + esc(oddLabel) + `",reason="write",registry="` + w.cred(bad).RegistryID + `"}`:    1,
		`ecr_updater_events_connected{env="` + esc(oddLabel) + `"}`:                                                             1,
		`ecr_updater_events_connected{env="` + w.env + ` (Default)"}`:                                                           0,
		`ecr_updater_passes_total{result="failure"}`:                                                                            0,
		`ecr_updater_passes_total{result="success"}`:                                                                            0,
		`ecr_updater_credentials_written_total{action="updated"}`:                                                               2,
		`ecr_updater_credentials_written_total{action="created"}`:                                                               0,
		`ecr_updater_credential_write_failures_total`:                                                                           2,
		`ecr_updater_last_pass_registries{kind="seen"}`:                                                                         5,
		`ecr_updater_last_pass_registries{kind="in_scope"}`:                                                                     4,
		`ecr_updater_last_success_timestamp_seconds`:                                                                            unixSeconds(res.Start.Add(res.Duration)),
		`ecr_updater_next_pass_timestamp_seconds`:                                                                               unixSeconds(next),
		`ecr_updater_pass_duration_seconds_count`:                                                                               1,
		`ecr_updater_request_errors_total{operation="GetAuthorizationToken",target="ecr"}`:                                      1,
		`ecr_updater_request_errors_total{operation="update credential",target="rancher"}`:                                      1,
		`ecr_updater_request_duration_seconds_count{operation="update credential",target="rancher"}`:                            3,
		`ecr_updater_build_info{goversion="` + runtime.Version() + `",revision="abc1234",version="v9.9.9"}`:                     1,
	}
	got := promtexttest.Samples(fams)
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if len(fams["ecr_updater_registry_failing"].GetMetric()) != 2 {
		t.Errorf("registry_failing: %v, want the two problems", fams["ecr_updater_registry_failing"])
	}
	if v := got[`ecr_updater_token_expiry_timestamp_seconds{region="us-east-1"}`]; v < float64(l.clock.Now().Unix()) {
		t.Errorf("token expiry of us-east-1 = %v, want a time in the future", v)
	}
	checkRuntimeFamilies(t, fams, got)

	// Compressed when asked, as promhttp does: the same families, judged the same way.
	gz, resp := scrapeMetrics(t, srv.URL+"/metrics", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Accept-Encoding: gzip answered Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := updaterLines(plain), updaterLines(body); a != b {
		t.Errorf("the gzip scrape's ecr_updater_ lines differ from the plain one's:\n%s\n---\n%s", a, b)
	}
	promtexttest.Parse(t, plain)

	// The state gauges follow Health at the next scrape: the stream forgotten, its series gone.
	health.setStream(oddLabel, "")
	body, _ = scrapeMetrics(t, srv.URL+"/metrics", "identity")
	for k := range promtexttest.Samples(promtexttest.Parse(t, body)) {
		if strings.HasPrefix(k, `ecr_updater_events_connected{env="`+esc(oddLabel)) {
			t.Errorf("%s: a forgotten stream is still on /metrics", k)
		}
	}
}

// updaterLines returns the lines of a scrape that are the updater's own (ecr_updater_*), which two scrapes without a
// pass in between write the same.
func updaterLines(text []byte) string {
	var out []string
	for line := range strings.SplitSeq(string(text), "\n") {
		if strings.Contains(line, "ecr_updater_") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// checkDocTable holds the updater's families to the metrics table of docs/health-and-metrics.md: every row on
// /metrics with its type, a HELP text and its labels (and the values the table lists), and no ecr_updater_ family
// that the table lacks.
func checkDocTable(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	documented := docMetrics(t)
	if len(documented) != 17 {
		t.Fatalf("the metrics table of %s has %d rows, want 17", metricsDoc, len(documented))
	}
	for _, d := range documented {
		f := fams[d.name]
		if f == nil {
			t.Errorf("%s: in the doc's table, not on /metrics", d.name)
			continue
		}
		if typ := strings.ToLower(f.GetType().String()); typ != d.typ || f.GetHelp() == "" {
			t.Errorf("%s: TYPE %q HELP %q, want TYPE %q and a HELP text", d.name, typ, f.GetHelp(), d.typ)
		}
		seen := map[string]map[string]bool{}
		for _, s := range f.GetMetric() {
			var names []string
			for _, l := range s.GetLabel() {
				names = append(names, l.GetName())
				if seen[l.GetName()] == nil {
					seen[l.GetName()] = map[string]bool{}
				}
				seen[l.GetName()][l.GetValue()] = true
			}
			slices.Sort(names)
			if want := sortedKeys(d.labels); !slices.Equal(names, want) {
				t.Errorf("%s: labels %v, the doc's table says %v", d.name, names, want)
			}
		}
		for label, values := range d.labels {
			for _, v := range values {
				if !seen[label][v] {
					t.Errorf("%s: no series with %s=%q (the doc's table lists it)", d.name, label, v)
				}
			}
			for v := range seen[label] {
				if len(values) > 0 && !slices.Contains(values, v) {
					t.Errorf("%s: %s=%q is not among the doc's values %v", d.name, label, v, values)
				}
			}
		}
	}
	for name := range fams {
		if strings.HasPrefix(name, MetricsPrefix+"_") && !slices.ContainsFunc(documented, func(d docMetric) bool { return d.name == name }) {
			t.Errorf("%s is on /metrics but not in the doc's table", name)
		}
	}
}

// checkRuntimeFamilies: the Go and process collectors are registered with the updater's metrics, with
// client_golang's names and types (internal/promtext compares them with client_golang's own collectors).
func checkRuntimeFamilies(t *testing.T, fams map[string]*dto.MetricFamily, got map[string]float64) {
	t.Helper()
	goFamilies := map[string]string{"go_gc_duration_seconds": "summary", "go_goroutines": "gauge", "go_info": "gauge",
		"go_memstats_alloc_bytes_total": "counter", "go_memstats_heap_alloc_bytes": "gauge", "go_threads": "gauge"}
	if runtime.GOOS == "linux" {
		goFamilies["process_cpu_seconds_total"] = "counter"
		goFamilies["process_resident_memory_bytes"] = "gauge"
		goFamilies["process_start_time_seconds"] = "gauge"
		goFamilies["process_open_fds"] = "gauge"
	}
	for name, typ := range goFamilies {
		if f := fams[name]; f == nil || strings.ToLower(f.GetType().String()) != typ || f.GetHelp() == "" || len(f.GetMetric()) == 0 {
			t.Errorf("%s: missing, or not a %s with help", name, typ)
		}
	}
	if got[`go_info{version="`+runtime.Version()+`"}`] != 1 || got["go_goroutines"] < 1 || got[`go_gc_duration_seconds{quantile="0.5"}`] < 0 {
		t.Errorf("go_info, go_goroutines or go_gc_duration_seconds are wrong")
	}
	if runtime.GOOS == "linux" {
		rss, start := got["process_resident_memory_bytes"], got["process_start_time_seconds"]
		if rss < 1e6 || start > float64(time.Now().Unix())+1 || start < float64(time.Now().Add(-time.Hour).Unix()) || got["process_open_fds"] < 3 {
			t.Errorf("process figures: RSS %v, start %v, open fds %v", rss, start, got["process_open_fds"])
		}
	}
}

func scrapeMetrics(t *testing.T, url, encoding string) ([]byte, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept-Encoding", encoding)
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %v", url, resp.Status, err)
	}
	return b, resp
}

func sortedKeys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// docMetric is a row of the metrics table of docs/health-and-metrics.md.
type docMetric struct {
	name, typ string
	labels    map[string][]string // label -> the values the table lists (none: any value)
}

var backticked = regexp.MustCompile("`([^`]*)`")

// metricsDoc is where the metrics are documented, and metricsSection the section of it that holds their table.
const (
	metricsDoc     = "../docs/health-and-metrics.md"
	metricsSection = "## Metrics"
)

// docMetrics reads the table of the section "## Metrics" of docs/health-and-metrics.md (up to the next section):
// | `name` | type | labels | meaning |, where labels are `label` = `value`, `value`; `label`; ... or `label`, `label`.
func docMetrics(t *testing.T) []docMetric {
	t.Helper()
	b, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n"+metricsSection+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", metricsDoc, metricsSection)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var out []docMetric
	for line := range strings.SplitSeq(section, "\n") {
		if !strings.HasPrefix(line, "| `"+MetricsPrefix+"_") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) != 6 {
			t.Fatalf("%s: metrics row with %d cells: %s", metricsDoc, len(cells), line)
		}
		d := docMetric{name: strings.Trim(strings.TrimSpace(cells[1]), "`"), typ: strings.TrimSpace(cells[2]), labels: map[string][]string{}}
		for part := range strings.SplitSeq(cells[3], ";") {
			name, values, isEnum := strings.Cut(part, "=")
			if !isEnum {
				for _, m := range backticked.FindAllStringSubmatch(part, -1) {
					d.labels[m[1]] = nil
				}
				continue
			}
			label := strings.Trim(strings.TrimSpace(name), "`")
			for _, m := range backticked.FindAllStringSubmatch(values, -1) {
				d.labels[label] = append(d.labels[label], m[1])
			}
		}
		out = append(out, d)
	}
	return out
}
