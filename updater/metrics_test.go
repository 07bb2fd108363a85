package updater

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// TestMetricsExposition runs a pass against the stand-ins (one region's token refused, one Rancher write failing,
// so that every family has series), scrapes /metrics over HTTP and checks the exposition against README's metrics
// table with a strict parser of the text format 0.0.4.
func TestMetricsExposition(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	good := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	bad := w.registry(w.env, ecrHost(acct, "us-west-2"), "active")
	euCred := w.registry(w.env, ecrHost(acct, "eu-west-1"), "active")
	w.rancher.AddRegistry(w.env, "index.docker.io", "active")
	w.ecr.AddFault(ecrtest.Fault{Region: "eu-west-1", Code: "AccessDeniedException"})
	w.rancher.AddFault(ranchertest.Fault{Method: http.MethodPut, PathContains: "/" + bad, Status: http.StatusInternalServerError})

	reg := NewRegistry()
	cfg := w.config()
	cfg.Metrics = NewMetrics(reg, "v9.9.9", "abc1234")
	res := w.updater(cfg).Pass(context.Background())
	if res.OK() || res.Updated != 1 {
		t.Fatalf("pass: ok %v, updated %d; want a failed pass that updated 1", res.OK(), res.Updated)
	}
	w.wantFresh(good, "us-east-1")
	cfg.Metrics.scheduled(time.Unix(1_800_000_000, 500_000_000))
	cfg.Metrics.streamConnected(w.env, true, false) // no stream runs here: give its gauge a series

	srv := httptest.NewServer(Handler(NewHealth(nil), reg))
	defer srv.Close()
	body, resp := scrapeMetrics(t, srv.URL+"/metrics", "identity")
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	fams, err := parseExposition(body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}

	documented := readmeMetrics(t)
	if len(documented) != 17 {
		t.Fatalf("README's metrics table has %d rows, want 17", len(documented))
	}
	for _, d := range documented {
		f := fams[d.name]
		if f == nil {
			t.Errorf("%s: in README, not on /metrics", d.name)
			continue
		}
		if f.typ != d.typ || f.help == "" {
			t.Errorf("%s: TYPE %q HELP %q, want TYPE %q and a HELP text", d.name, f.typ, f.help, d.typ)
		}
		seen := map[string]map[string]bool{}
		for _, s := range f.samples {
			var names []string
			for k, v := range s.labels {
				if k == "le" && f.typ == "histogram" && strings.HasSuffix(s.name, "_bucket") {
					continue
				}
				names = append(names, k)
				if seen[k] == nil {
					seen[k] = map[string]bool{}
				}
				seen[k][v] = true
			}
			slices.Sort(names)
			if want := sortedKeys(d.labels); !slices.Equal(names, want) {
				t.Errorf("%s: labels %v, README says %v", s.name, names, want)
			}
		}
		for label, values := range d.labels {
			for _, v := range values {
				if !seen[label][v] {
					t.Errorf("%s: no series with %s=%q (README lists it)", d.name, label, v)
				}
			}
			for v := range seen[label] {
				if len(values) > 0 && !slices.Contains(values, v) {
					t.Errorf("%s: %s=%q is not among README's values %v", d.name, label, v, values)
				}
			}
		}
	}
	for name := range fams {
		if strings.HasPrefix(name, MetricsPrefix+"_") && !slices.ContainsFunc(documented, func(d docMetric) bool { return d.name == name }) {
			t.Errorf("%s is on /metrics but not in README's table", name)
		}
	}

	// Values that the pass determines.
	want := map[string]float64{
		`ecr_updater_passes_total{result="degraded"}`:                                                                   1,
		`ecr_updater_registry_failing{env="` + w.env + `",reason="token",registry="` + w.cred(euCred).RegistryID + `"}`: 1,
		`ecr_updater_registry_failing{env="` + w.env + `",reason="write",registry="` + w.cred(bad).RegistryID + `"}`:    1,
		`ecr_updater_passes_total{result="failure"}`:                                                                    0,
		`ecr_updater_passes_total{result="success"}`:                                                                    0,
		`ecr_updater_credentials_written_total{action="updated"}`:                                                       1,
		`ecr_updater_credentials_written_total{action="created"}`:                                                       0,
		`ecr_updater_credential_write_failures_total`:                                                                   2,
		`ecr_updater_last_pass_registries{kind="seen"}`:                                                                 4,
		`ecr_updater_last_pass_registries{kind="in_scope"}`:                                                             3,
		`ecr_updater_next_pass_timestamp_seconds`:                                                                       1_800_000_000.5,
		`ecr_updater_pass_duration_seconds_count`:                                                                       1,
		`ecr_updater_request_errors_total{operation="GetAuthorizationToken",target="ecr"}`:                              1,
		`ecr_updater_request_errors_total{operation="update credential",target="rancher"}`:                              1,
		`ecr_updater_request_duration_seconds_count{operation="update credential",target="rancher"}`:                    2,
		`ecr_updater_build_info{goversion="` + runtime.Version() + `",revision="abc1234",version="v9.9.9"}`:             1,
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, s := range f.samples {
			got[s.key()] = s.value
		}
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if v := got[`ecr_updater_token_expiry_timestamp_seconds{region="us-east-1"}`]; v < float64(time.Now().Unix()) {
		t.Errorf("token expiry of us-east-1 = %v, want a time in the future", v)
	}

	// The Go and process collectors, with client_golang's names and types.
	goFamilies := map[string]string{"go_gc_duration_seconds": "summary", "go_gc_gogc_percent": "gauge",
		"go_gc_gomemlimit_bytes": "gauge", "go_goroutines": "gauge", "go_info": "gauge", "go_memstats_alloc_bytes": "gauge",
		"go_memstats_alloc_bytes_total": "counter", "go_memstats_buck_hash_sys_bytes": "gauge", "go_memstats_frees_total": "counter",
		"go_memstats_gc_sys_bytes": "gauge", "go_memstats_heap_alloc_bytes": "gauge", "go_memstats_heap_idle_bytes": "gauge",
		"go_memstats_heap_inuse_bytes": "gauge", "go_memstats_heap_objects": "gauge", "go_memstats_heap_released_bytes": "gauge",
		"go_memstats_heap_sys_bytes": "gauge", "go_memstats_last_gc_time_seconds": "gauge", "go_memstats_mallocs_total": "counter",
		"go_memstats_mcache_inuse_bytes": "gauge", "go_memstats_mcache_sys_bytes": "gauge", "go_memstats_mspan_inuse_bytes": "gauge",
		"go_memstats_mspan_sys_bytes": "gauge", "go_memstats_next_gc_bytes": "gauge", "go_memstats_other_sys_bytes": "gauge",
		"go_memstats_stack_inuse_bytes": "gauge", "go_memstats_stack_sys_bytes": "gauge", "go_memstats_sys_bytes": "gauge",
		"go_sched_gomaxprocs_threads": "gauge", "go_threads": "gauge"}
	if runtime.GOOS == "linux" {
		for name, typ := range map[string]string{"process_cpu_seconds_total": "counter", "process_max_fds": "gauge",
			"process_network_receive_bytes_total": "counter", "process_network_transmit_bytes_total": "counter",
			"process_open_fds": "gauge", "process_resident_memory_bytes": "gauge", "process_start_time_seconds": "gauge",
			"process_virtual_memory_bytes": "gauge", "process_virtual_memory_max_bytes": "gauge"} {
			goFamilies[name] = typ
		}
	}
	for name, typ := range goFamilies {
		if f := fams[name]; f == nil || f.typ != typ || f.help == "" || len(f.samples) == 0 {
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

	// Compressed when asked, as promhttp did.
	gz, resp := scrapeMetrics(t, srv.URL+"/metrics", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Accept-Encoding: gzip answered Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(strings.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseExposition(string(plain)); err != nil {
		t.Errorf("the gzip exposition does not parse: %v", err)
	}
}

func scrapeMetrics(t *testing.T, url, encoding string) (string, *http.Response) {
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
	return string(b), resp
}

func sortedKeys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// docMetric is a row of README's metrics table.
type docMetric struct {
	name, typ string
	labels    map[string][]string // label -> the values README lists (none: any value)
}

var backticked = regexp.MustCompile("`([^`]*)`")

// readmeMetrics reads the table under "Every metric of the updater" in README.md: | `name` | type | labels | meaning |,
// where labels are `label` = `value`, `value`; `label`; ... or `label`, `label`.
func readmeMetrics(t *testing.T) []docMetric {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []docMetric
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.HasPrefix(line, "| `"+MetricsPrefix+"_") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) != 6 {
			t.Fatalf("README metrics row with %d cells: %s", len(cells), line)
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

// A strict parser of the Prometheus text exposition format 0.0.4: every line is a HELP, a TYPE or a sample; HELP
// and TYPE come at most once per family, before its samples; a family's samples are contiguous and named after it
// (_bucket, _sum and _count for histograms, _sum and _count for summaries); names, label names, escapes and
// values are checked; no series twice; histograms have ascending le buckets, cumulative counts, a +Inf bucket equal
// to _count, and a _sum; summaries have quantile labels. The text ends with a newline.

type parsedFamily struct {
	name, help, typ string
	samples         []parsedSample
}

type parsedSample struct {
	name   string
	labels map[string]string
	order  []string
	value  float64
}

// key is the sample as name{labels} with labels in the order written.
func (s parsedSample) key() string {
	if len(s.order) == 0 {
		return s.name
	}
	var parts []string
	for _, l := range s.order {
		parts = append(parts, l+"="+strconv.Quote(s.labels[l]))
	}
	return s.name + "{" + strings.Join(parts, ",") + "}"
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

func parseExposition(text string) (map[string]*parsedFamily, error) {
	if text == "" || !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("empty, or no newline at the end")
	}
	fams := map[string]*parsedFamily{}
	var cur *parsedFamily
	done := map[string]bool{} // families whose samples have ended
	series := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fail := func(format string, a ...any) error {
			return fmt.Errorf("line %d %q: %s", n, line, fmt.Sprintf(format, a...))
		}
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			kw, rest, _ := strings.Cut(rest, " ")
			name, arg, _ := strings.Cut(rest, " ")
			if kw != "HELP" && kw != "TYPE" {
				return nil, fail("a comment other than HELP or TYPE")
			}
			if !metricName.MatchString(name) {
				return nil, fail("bad metric name")
			}
			if done[name] {
				return nil, fail("family %s seen before", name)
			}
			if cur == nil || cur.name != name {
				if cur != nil {
					done[cur.name] = true
				}
				if fams[name] != nil {
					return nil, fail("family %s seen before", name)
				}
				cur = &parsedFamily{name: name}
				fams[name] = cur
			}
			if len(cur.samples) > 0 {
				return nil, fail("%s after samples", kw)
			}
			switch kw {
			case "HELP":
				if cur.help != "" {
					return nil, fail("second HELP")
				}
				h, err := unescape(arg, false)
				if err != nil {
					return nil, fail("%v", err)
				}
				cur.help = h
			case "TYPE":
				if cur.typ != "" {
					return nil, fail("second TYPE")
				}
				if !slices.Contains([]string{"counter", "gauge", "histogram", "summary", "untyped"}, arg) {
					return nil, fail("unknown type")
				}
				cur.typ = arg
			}
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fail("%v", err)
		}
		if cur == nil || !belongs(cur, s.name) {
			return nil, fail("sample outside its family (HELP and TYPE first, samples contiguous)")
		}
		k := s.key()
		if series[k] {
			return nil, fail("series twice")
		}
		series[k] = true
		cur.samples = append(cur.samples, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, f := range fams {
		if f.typ == "" || len(f.samples) == 0 {
			return nil, fmt.Errorf("family %s: no TYPE or no samples", f.name)
		}
		if err := checkFamily(f); err != nil {
			return nil, fmt.Errorf("family %s: %v", f.name, err)
		}
	}
	return fams, nil
}

func belongs(f *parsedFamily, name string) bool {
	switch f.typ {
	case "histogram":
		return name == f.name+"_bucket" || name == f.name+"_sum" || name == f.name+"_count"
	case "summary":
		return name == f.name || name == f.name+"_sum" || name == f.name+"_count"
	}
	return name == f.name
}

func parseSample(line string) (parsedSample, error) {
	s := parsedSample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no value")
	}
	s.name, line = line[:i], line[i:]
	if !metricName.MatchString(s.name) {
		return s, fmt.Errorf("bad metric name")
	}
	if strings.HasPrefix(line, "{") {
		line = line[1:]
		for !strings.HasPrefix(line, "}") {
			eq := strings.Index(line, `="`)
			if eq <= 0 {
				return s, fmt.Errorf("bad label")
			}
			name := line[:eq]
			if !labelName.MatchString(name) || strings.HasPrefix(name, "__") {
				return s, fmt.Errorf("bad label name %q", name)
			}
			if _, dup := s.labels[name]; dup {
				return s, fmt.Errorf("label %s twice", name)
			}
			line = line[eq+2:]
			end := -1
			for j := 0; j < len(line); j++ {
				if line[j] == '\\' {
					j++
					continue
				}
				if line[j] == '"' {
					end = j
					break
				}
			}
			if end < 0 {
				return s, fmt.Errorf("unterminated label value")
			}
			v, err := unescape(line[:end], true)
			if err != nil {
				return s, err
			}
			s.labels[name] = v
			s.order = append(s.order, name)
			line = line[end+1:]
			if rest, ok := strings.CutPrefix(line, ","); ok {
				line = rest
				if strings.HasPrefix(line, "}") {
					return s, fmt.Errorf("trailing comma")
				}
			} else if !strings.HasPrefix(line, "}") {
				return s, fmt.Errorf("no comma between labels")
			}
		}
		line = line[1:]
	}
	value, ok := strings.CutPrefix(line, " ")
	if !ok || value == "" || strings.Contains(value, " ") {
		return s, fmt.Errorf("want one space and a value (no timestamp)")
	}
	v, err := parseValue(value)
	if err != nil {
		return s, err
	}
	s.value = v
	return s, nil
}

func parseValue(v string) (float64, error) {
	switch v {
	case "+Inf":
		return math.Inf(+1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	if strings.ContainsAny(v, "_xXpP") || strings.EqualFold(v, "inf") || strings.EqualFold(v, "infinity") {
		return 0, fmt.Errorf("bad value %q", v)
	}
	return strconv.ParseFloat(v, 64)
}

// unescape undoes the text format's escapes: \\ and \n, and \" in label values; any other backslash is an error.
func unescape(s string, label bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if label && c == '"' {
			return "", fmt.Errorf("unescaped quote")
		}
		if c == '\n' {
			return "", fmt.Errorf("raw newline")
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		switch {
		case i < len(s) && s[i] == '\\':
			b.WriteByte('\\')
		case i < len(s) && s[i] == 'n':
			b.WriteByte('\n')
		case i < len(s) && s[i] == '"' && label:
			b.WriteByte('"')
		default:
			return "", fmt.Errorf("bad escape")
		}
	}
	return b.String(), nil
}

// checkFamily checks histograms and summaries.
func checkFamily(f *parsedFamily) error {
	switch f.typ {
	case "histogram", "summary":
	default:
		return nil
	}
	type group struct {
		les          []float64
		counts       []float64
		sum, count   bool
		countV, infV float64
		quantiles    int
	}
	groups := map[string]*group{}
	for _, s := range f.samples {
		var rest []string
		for _, l := range s.order {
			if l != "le" && l != "quantile" {
				rest = append(rest, l+"="+s.labels[l])
			}
		}
		k := strings.Join(rest, ",")
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
		}
		switch {
		case s.name == f.name+"_sum":
			g.sum = true
		case s.name == f.name+"_count":
			g.count, g.countV = true, s.value
		case f.typ == "histogram":
			le, ok := s.labels["le"]
			if !ok || s.order[len(s.order)-1] != "le" {
				return fmt.Errorf("%s without le last", s.key())
			}
			b, err := parseValue(le)
			if err != nil {
				return err
			}
			if n := len(g.les); n > 0 && (b <= g.les[n-1] || s.value < g.counts[n-1]) {
				return fmt.Errorf("%s: buckets not ascending or counts not cumulative", s.key())
			}
			g.les, g.counts = append(g.les, b), append(g.counts, s.value)
			if math.IsInf(b, +1) {
				g.infV = s.value
			}
		default:
			if _, ok := s.labels["quantile"]; !ok {
				return fmt.Errorf("%s without quantile", s.key())
			}
			g.quantiles++
		}
	}
	for k, g := range groups {
		if !g.sum || !g.count {
			return fmt.Errorf("{%s}: no _sum or _count", k)
		}
		if f.typ == "histogram" && (len(g.les) < 2 || !math.IsInf(g.les[len(g.les)-1], +1) || g.infV != g.countV) {
			return fmt.Errorf("{%s}: no +Inf bucket last, or it differs from _count", k)
		}
		if f.typ == "summary" && g.quantiles == 0 {
			return fmt.Errorf("{%s}: no quantiles", k)
		}
	}
	return nil
}

// TestExpositionDetails checks what the scrape above does not reach: escapes, bucket bounds, client_golang's le
// strings, empty families, misuse, and Accept-Encoding.
func TestExpositionDetails(t *testing.T) {
	reg := NewRegistry()
	odd := "a\\b\"c\nd"
	reg.gaugeVec("x_gauge", "Help with a \\ and a\nnewline.", "zone", "app").WithLabelValues(odd, "z").Set(math.Copysign(0, -1))
	reg.gaugeVec("x_gauge_empty", "Never set.", "l")
	h := reg.histogramVec("x_seconds", "H.", exponentialBuckets(0.005, 2.5, 10), "op")
	for _, v := range []float64{0.005, 0.0050001, 100} {
		h.WithLabelValues("get").Observe(v)
	}
	c := reg.counter("x_total", "C.")
	c.Add(2.5)
	var b strings.Builder
	if _, err := reg.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	fams, err := parseExposition(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if fams["x_gauge_empty"] != nil {
		t.Error("a family without series is written")
	}
	g := fams["x_gauge"]
	if g.help != "Help with a \\ and a\nnewline." || g.samples[0].labels["zone"] != odd || g.samples[0].value != 0 ||
		!slices.Equal(g.samples[0].order, []string{"app", "zone"}) {
		t.Errorf("gauge %+v", g)
	}
	if !strings.Contains(b.String(), "x_gauge{app=\"z\",zone=\"a\\\\b\\\"c\\nd\"} 0\n") {
		t.Errorf("escaped label or -0:\n%s", b.String())
	}
	var les []string
	counts := map[string]float64{}
	for _, s := range fams["x_seconds"].samples {
		if le, ok := s.labels["le"]; ok {
			les = append(les, le)
			counts[le] = s.value
		}
	}
	// client_golang's ExponentialBuckets(0.005, 2.5, 10), as its exposition printed them.
	want := []string{"0.005", "0.0125", "0.03125", "0.078125", "0.1953125", "0.48828125", "1.220703125", "3.0517578125",
		"7.62939453125", "19.073486328125", "+Inf"}
	if !slices.Equal(les, want) {
		t.Errorf("le %v, want %v", les, want)
	}
	if counts["0.005"] != 1 || counts["0.0125"] != 2 || counts["19.073486328125"] != 2 || counts["+Inf"] != 3 {
		t.Errorf("bucket counts %v: a value equal to a bound belongs to that bucket", counts)
	}
	if fams["x_total"].samples[0].value != 2.5 {
		t.Errorf("counter %v", fams["x_total"].samples[0].value)
	}
	for name, f := range map[string]func(){
		"negative add":    func() { c.Add(-1) },
		"same name twice": func() { reg.counter("x_total", "again") },
		"label count":     func() { h.WithLabelValues("a", "b").Observe(1) },
		"bad buckets":     func() { reg.histogram("x_bad", "B.", []float64{2, 1}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	for header, want := range map[string]bool{"gzip": true, "deflate, gzip;q=0.5": true, "GZIP": true, "gzip;q=0": false,
		"gzip; q=0.0": false, "identity": false, "": false, "x-gzip": false} {
		if acceptsGzip(header) != want {
			t.Errorf("acceptsGzip(%q) = %v", header, !want)
		}
	}
}
