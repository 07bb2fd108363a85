package catalog

// This file emulates what Rancher 1.6 does with a catalog (the catalog service reads
// config.yml and the .catalog block; rancher-compose-executor renders the compose files)
// and holds the check functions the tests in catalog_test.go run on the real files and
// on broken input.

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
)

// ourCatalogName is the name the catalog is given under Admin -> Settings -> Catalog, as
// README.md tells the operator; the environment template's templateId depends on it.
const ourCatalogName = "ecr-updater"

// minimumRancher is the oldest Rancher the entry may claim to run on: the old
// "ECR Credential Updater" v2.0.1 required it too.
const minimumRancher = "v1.6.13-rc1"

// questionTypes are the question types the Rancher 1.6 UI knows.
var questionTypes = map[string]bool{
	"string": true, "int": true, "float": true, "boolean": true, "password": true,
	"service": true, "enum": true, "multiline": true, "certificate": true, "date": true,
	"masked": true, "secret": true,
}

// question is one entry of .catalog.questions.
type question struct {
	Variable    string    `yaml:"variable"`
	Label       string    `yaml:"label"`
	Description string    `yaml:"description"`
	Type        string    `yaml:"type"`
	Required    bool      `yaml:"required"`
	Default     yaml.Node `yaml:"default"` // Kind 0 when absent
	Options     []string  `yaml:"options"`
}

// defaultValue is the default as the UI pre-fills it: always a string.
func (q question) defaultValue() (string, bool) {
	if q.Default.Kind != yaml.ScalarNode || q.Default.ShortTag() == "!!null" {
		return "", false
	}
	return q.Default.Value, true
}

// catalogInfo is the .catalog block of a version folder's rancher-compose.yml.
type catalogInfo struct {
	Name                  string     `yaml:"name"`
	Version               string     `yaml:"version"`
	Description           string     `yaml:"description"`
	MinimumRancherVersion string     `yaml:"minimum_rancher_version"`
	MaximumRancherVersion string     `yaml:"maximum_rancher_version"`
	UpgradeFrom           string     `yaml:"upgrade_from"`
	Questions             []question `yaml:"questions"`
}

// entryConfig is an entry's config.yml.
type entryConfig struct {
	Name        string            `yaml:"name"`
	Description string            `yaml:"description"`
	Version     string            `yaml:"version"`
	Category    string            `yaml:"category"`
	Maintainer  string            `yaml:"maintainer"`
	License     string            `yaml:"license"`
	ProjectURL  string            `yaml:"projectURL"`
	Labels      map[string]string `yaml:"labels"`
}

// projectTemplate is a project-templates/<name>/<n>/project.yml.
type projectTemplate struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Stacks      []struct {
		Name       string            `yaml:"name"`
		TemplateID string            `yaml:"templateId"`
		Answers    map[string]string `yaml:"answers"`
	} `yaml:"stacks"`
}

// versionFolder is one numbered folder of an entry: its files and its .catalog block.
type versionFolder struct {
	Dir     string
	Files   map[string]string // base name -> content
	Catalog catalogInfo
}

func loadVersionFolder(dir string) (*versionFolder, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	vf := &versionFolder{Dir: dir, Files: map[string]string{}}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		vf.Files[e.Name()] = string(b)
	}
	rc, ok := vf.Files["rancher-compose.yml"]
	if !ok {
		return nil, fmt.Errorf("%s: no rancher-compose.yml", dir)
	}
	// The catalog service reads the .catalog block from the file as it is (no templating).
	var top map[string]yaml.Node
	if err := yaml.Unmarshal([]byte(rc), &top); err != nil {
		return nil, fmt.Errorf("%s/rancher-compose.yml: %w", dir, err)
	}
	node, ok := top[".catalog"]
	if !ok {
		node, ok = top["catalog"]
	}
	if !ok {
		return nil, fmt.Errorf("%s/rancher-compose.yml: no .catalog block", dir)
	}
	if err := node.Decode(&vf.Catalog); err != nil {
		return nil, fmt.Errorf("%s/rancher-compose.yml .catalog: %w", dir, err)
	}
	return vf, nil
}

// composeFileNames are the compose files of a version folder, as Rancher picks them up.
func (vf *versionFolder) composeFileNames() []string {
	var names []string
	for name := range vf.Files {
		if strings.HasPrefix(name, "docker-compose.yml") || strings.HasPrefix(name, "rancher-compose.yml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// dockerCompose is the docker-compose file of the folder (docker-compose.yml.tpl wins,
// as in the Rancher CLI when docker-compose.yml is absent).
func (vf *versionFolder) dockerCompose() (string, string, bool) {
	for _, name := range []string{"docker-compose.yml.tpl", "docker-compose.yml"} {
		if s, ok := vf.Files[name]; ok {
			return name, s, true
		}
	}
	return "", "", false
}

// versionFolders lists the numbered folders of an entry, in numeric order.
func versionFolders(entryDir string) ([]string, error) {
	entries, err := os.ReadDir(entryDir)
	if err != nil {
		return nil, err
	}
	type numbered struct {
		n   int
		dir string
	}
	var found []numbered
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(e.Name())
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s: folder %q is not a version number", entryDir, e.Name())
		}
		found = append(found, numbered{n, filepath.Join(entryDir, e.Name())})
	}
	sort.Slice(found, func(i, j int) bool { return found[i].n < found[j].n })
	var dirs []string
	for _, f := range found {
		dirs = append(dirs, f.dir)
	}
	return dirs, nil
}

// defaultVersionFolder is the folder whose .catalog version equals config.yml's version:
// the one the UI selects by default.
func defaultVersionFolder(entryDir string) (*versionFolder, error) {
	var cfg entryConfig
	if err := readYAML(filepath.Join(entryDir, "config.yml"), &cfg); err != nil {
		return nil, err
	}
	dirs, err := versionFolders(entryDir)
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		vf, err := loadVersionFolder(d)
		if err != nil {
			return nil, err
		}
		if vf.Catalog.Version == cfg.Version {
			return vf, nil
		}
	}
	return nil, fmt.Errorf("%s: no version folder has .catalog version %q of config.yml", entryDir, cfg.Version)
}

func readYAML(path string, out any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// answersFor is what the UI submits: every question with its default (or empty), then the
// operator's answers on top.
func answersFor(qs []question, answers map[string]string) map[string]string {
	out := map[string]string{}
	for _, q := range qs {
		d, _ := q.defaultValue()
		out[q.Variable] = d
	}
	for k, v := range answers {
		out[k] = v
	}
	return out
}

// renderTemplate is the first step rancher-compose-executor applies to every compose
// file: Go text/template, with the answers (strings) as .Values, unless the file starts
// with "# notemplating". Rancher also offers sprig functions; they are not defined here,
// so a template that uses one fails to parse. Rancher ignores execution errors (and keeps
// the output so far); here they fail, and so does a .Values key that is not an answer.
func renderTemplate(name, text string, answers map[string]string) (string, error) {
	if strings.HasPrefix(text, "# notemplating") {
		return text, nil
	}
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("parse template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, map[string]any{"Values": answers}); err != nil {
		return "", fmt.Errorf("execute template %s: %w", name, err)
	}
	return buf.String(), nil
}

func isNameChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// interpolate is libcompose's interpolation of one value: $$ is a literal $, ${name} and
// $name are looked up (unset is blank), anything else after $ (such as ${name:-default},
// which Rancher 1.6 does not know) is an error. Substituted text is not scanned again.
func interpolate(s string, lookup func(string) string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i >= len(s) {
			return "", fmt.Errorf("invalid interpolation in %q: a lone $ at the end (write $$ for $)", s)
		}
		switch c := s[i]; {
		case c == '$':
			b.WriteByte('$')
		case c == '{':
			j := i + 1
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			if j == i+1 || j >= len(s) || s[j] != '}' {
				return "", fmt.Errorf("invalid interpolation in %q: Rancher 1.6 knows only ${name} and $name", s)
			}
			b.WriteString(lookup(s[i+1 : j]))
			i = j
		case isNameChar(c) && !(c >= '0' && c <= '9'):
			j := i
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			b.WriteString(lookup(s[i:j]))
			i = j - 1
		default:
			return "", fmt.Errorf("invalid interpolation in %q at %q (write $$ for $)", s, s[i-1:])
		}
	}
	return b.String(), nil
}

// interpolateNode interpolates every value (not the keys) below n, as libcompose does on
// the parsed services; an interpolated value stays a string.
func interpolateNode(n *yaml.Node, lookup func(string) string) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if err := interpolateNode(c, lookup); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if err := interpolateNode(n.Content[i], lookup); err != nil {
				return fmt.Errorf("%s: %w", n.Content[i-1].Value, err)
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return nil
		}
		v, err := interpolate(n.Value, lookup)
		if err != nil {
			return err
		}
		n.Value, n.Tag, n.Style = v, "!!str", yaml.DoubleQuotedStyle
	case yaml.AliasNode:
		return errors.New("YAML aliases are not used in compose files here")
	}
	return nil
}

// leftovers lists the scalar values below n that still hold "${".
func leftovers(n *yaml.Node) []string {
	var out []string
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		out = append(out, n.Value)
	}
	for _, c := range n.Content {
		out = append(out, leftovers(c)...)
	}
	return out
}

// renderedCompose is a compose file after Rancher's steps.
type renderedCompose struct {
	Text     string                    // after text/template
	Doc      map[string]any            // parsed and interpolated
	Services map[string]map[string]any // the services, v1 or v2 format
	Refs     map[string]bool           // variables looked up by interpolation
}

// renderCompose renders a compose file as Rancher 1.6 does: text/template with the
// answers, YAML parsing, interpolation of the values from the same answers. It fails on
// anything Rancher would reject or silently blank, and on any "${" left over.
func renderCompose(name, text string, answers map[string]string) (*renderedCompose, error) {
	out, err := renderTemplate(name, text, answers)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(out), &root); err != nil {
		return nil, fmt.Errorf("%s after templating is not YAML: %w\n%s", name, err, out)
	}
	refs := map[string]bool{}
	lookup := func(v string) string {
		refs[v] = true
		return answers[v]
	}
	if err := interpolateNode(&root, lookup); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if left := leftovers(&root); len(left) > 0 {
		return nil, fmt.Errorf("%s: ${ left after interpolation in %q", name, left)
	}
	r := &renderedCompose{Text: out, Refs: refs}
	if err := root.Decode(&r.Doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r.Services, err = composeServices(r.Doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// composeServices finds the services the way rancher-compose-executor does: with
// version "2" (exactly) under services:, otherwise every top-level key is a service (v1);
// the .catalog block is not a service.
func composeServices(doc map[string]any) (map[string]map[string]any, error) {
	services := map[string]map[string]any{}
	if v, ok := doc["version"]; ok {
		if v != "2" {
			return nil, fmt.Errorf("version %#v: Rancher 1.6 reads only the string '2' as compose format 2 (anything else as v1)", v)
		}
		raw, ok := doc["services"].(map[string]any)
		if !ok {
			return nil, errors.New("version '2' without a services: map")
		}
		for k, v := range raw {
			svc, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("service %s is not a map", k)
			}
			services[k] = svc
		}
		return services, nil
	}
	for k, v := range doc {
		if k == ".catalog" || k == "catalog" {
			continue
		}
		svc, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("top-level %s is not a service map", k)
		}
		services[k] = svc
	}
	return services, nil
}

// fromSecretSuffix ends the variable of a question that names a Rancher secret holding a key.
const fromSecretSuffix = "_from_secret"

var (
	secretName   = regexp.MustCompile(`(?i)secret|password|session_token`)
	variableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// The health check asks /livez, which fails only when the loop is wedged: /healthz would also fail for a key
	// or a Rancher that fails, and strategy recreate would then recreate the container in a loop (issue 18).
	livezLine = regexp.MustCompile(`^GET /livez HTTP/1\.[01]$`)
)

// checkQuestions checks a question list the way an operator would be hurt by it.
func checkQuestions(qs []question) []error {
	var errs []error
	bad := func(q question, format string, args ...any) {
		errs = append(errs, fmt.Errorf("question %q: %s", q.Variable, fmt.Sprintf(format, args...)))
	}
	seen := map[string]bool{}
	for _, q := range qs {
		if q.Variable == "" || !variableName.MatchString(q.Variable) {
			bad(q, "variable must be a name usable as ${name}")
		}
		if seen[q.Variable] {
			bad(q, "variable used by more than one question")
		}
		seen[q.Variable] = true
		if q.Label == "" || q.Description == "" {
			bad(q, "needs a label and a description")
		}
		if !questionTypes[q.Type] {
			bad(q, "unknown type %q", q.Type)
		}
		def, hasDef := q.defaultValue()
		switch q.Type {
		case "enum":
			if len(q.Options) == 0 {
				bad(q, "enum without options")
			}
			opts := map[string]bool{}
			for _, o := range q.Options {
				if opts[o] {
					bad(q, "option %q listed twice", o)
				}
				opts[o] = true
			}
			if hasDef && !opts[def] {
				bad(q, "default %q is not one of the options %q", def, q.Options)
			}
			if q.Required && !hasDef {
				bad(q, "a required enum needs a default")
			}
		case "boolean":
			if !hasDef || (def != "true" && def != "false") {
				bad(q, "boolean default must be \"true\" or \"false\", not %q", def)
			}
		default:
			if len(q.Options) > 0 {
				bad(q, "options only make sense for an enum")
			}
		}
		switch {
		case strings.HasSuffix(q.Variable, fromSecretSuffix):
			// The name of a Rancher secret, not a secret: the UI may show it.
			if q.Type != "string" && q.Type != "secret" {
				bad(q, "names a Rancher secret: type string (or secret), not %q", q.Type)
			}
			if !strings.Contains(q.Label, "from a Rancher secret") {
				bad(q, "names a Rancher secret, and its label should say so (\"... from a Rancher secret (name)\")")
			}
		case secretName.MatchString(q.Variable) && q.Type != "password":
			bad(q, "looks secret but is of type %q, not password (the UI would show it)", q.Type)
		}
		if q.Type == "password" && hasDef && def != "" {
			bad(q, "a password question must not have a default")
		}
	}
	return errs
}

var (
	dollarRef      = regexp.MustCompile(`\$(\$|\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)`)
	valuesRef      = regexp.MustCompile(`\.Values\.([A-Za-z0-9_]+)|index\s+\.Values\s+"([^"]*)"`)
	braceName      = regexp.MustCompile(`^\{([A-Za-z_][A-Za-z0-9_]*)\}$`)
	templateAction = regexp.MustCompile(`\{\{.*?\}\}`)
)

// references lists the ${var} / $var and .Values.var names used in a compose file
// (comment lines skipped), and the forms Rancher does not support. A $name inside a
// template action ({{ $other := ... }}) is a template variable, gone before interpolation.
func references(text string) (dollars, values []string, errs []error) {
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range dollarRef.FindAllStringSubmatch(templateAction.ReplaceAllString(line, ""), -1) {
			switch body := m[1]; {
			case body == "$":
			case strings.HasPrefix(body, "{"):
				if n := braceName.FindStringSubmatch(body); n != nil {
					dollars = append(dollars, n[1])
				} else {
					errs = append(errs, fmt.Errorf("line %d: %s is not a form Rancher 1.6 interpolates (only ${name})", i+1, m[0]))
				}
			default:
				dollars = append(dollars, body)
			}
		}
		for _, m := range valuesRef.FindAllStringSubmatch(line, -1) {
			values = append(values, m[1]+m[2])
		}
	}
	return dollars, values, errs
}

// checkReferences checks that every variable a version folder's compose files use is a
// question, and every question is used.
func checkReferences(files map[string]string, qs []question) []error {
	var errs []error
	asked := map[string]bool{}
	for _, q := range qs {
		asked[q.Variable] = true
	}
	used := map[string]bool{}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		dollars, values, rerrs := references(files[name])
		for _, e := range rerrs {
			errs = append(errs, fmt.Errorf("%s: %w", name, e))
		}
		for _, v := range dollars {
			used[v] = true
			if !asked[v] {
				errs = append(errs, fmt.Errorf("%s: ${%s} has no question (it would be blank)", name, v))
			}
		}
		for _, v := range values {
			used[v] = true
			if !asked[v] {
				errs = append(errs, fmt.Errorf("%s: .Values.%s has no question", name, v))
			}
		}
	}
	for _, q := range qs {
		if !used[q.Variable] {
			errs = append(errs, fmt.Errorf("question %q is used by no compose file", q.Variable))
		}
	}
	return errs
}

func asInt(v any) (int, bool) {
	i, ok := v.(int)
	return i, ok
}

// checkRancherService checks the rancher-compose side of the updater's service.
func checkRancherService(svc map[string]any) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if n, ok := asInt(svc["scale"]); !ok || n != 1 {
		bad("scale must be 1 (two updaters would write the same registries), got %#v", svc["scale"])
	}
	hc, ok := svc["health_check"].(map[string]any)
	if !ok {
		bad("no health_check")
		hc = map[string]any{}
	}
	if p, ok := asInt(hc["port"]); !ok || p != 8080 {
		bad("health_check port must be 8080 (LISTEN_PORT), got %#v", hc["port"])
	}
	if rl, _ := hc["request_line"].(string); !livezLine.MatchString(rl) {
		bad("health_check request_line must be GET /livez HTTP/1.0 (not /healthz: recreating fixes no key), got %#v", hc["request_line"])
	}
	ms := map[string]int{}
	for _, k := range []string{"interval", "response_timeout", "healthy_threshold", "unhealthy_threshold", "initializing_timeout", "reinitializing_timeout"} {
		v, ok := asInt(hc[k])
		if !ok || v <= 0 {
			bad("health_check %s must be a positive number, got %#v", k, hc[k])
		}
		ms[k] = v
	}
	if ms["response_timeout"] >= ms["interval"] {
		bad("health_check response_timeout (%d ms) must be shorter than interval (%d ms)", ms["response_timeout"], ms["interval"])
	}
	if ms["interval"] < 2000 {
		bad("health_check interval %d ms: Rancher's minimum is 2000", ms["interval"])
	}
	if ms["initializing_timeout"] < ms["interval"] || ms["reinitializing_timeout"] < ms["interval"] {
		bad("health_check (re)initializing_timeout must give the first pass at least one interval")
	}
	// recreate: a wedged loop is what a new container fixes. (none would not stop Cattle 1.6 from removing a container
	// that never turned healthy within initializing_timeout, whatever the strategy: HealthcheckCleanupMonitorImpl.)
	if s := hc["strategy"]; s != "recreate" {
		bad("health_check strategy must be recreate, got %#v", s)
	}
	us, ok := svc["upgrade_strategy"].(map[string]any)
	if !ok {
		bad("no upgrade_strategy")
	} else if sf, ok := us["start_first"].(bool); !ok || sf {
		bad("upgrade_strategy start_first must be false (never two updaters at once), got %#v", us["start_first"])
	}
	return errs
}

var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)(?:-rc(\d+))?$`)

// compareRancherVersions compares v1.6.13 / v1.6.13-rc1 style versions (an rc comes
// before its release).
func compareRancherVersions(a, b string) (int, error) {
	parse := func(s string) ([4]int, error) {
		m := versionRE.FindStringSubmatch(s)
		if m == nil {
			return [4]int{}, fmt.Errorf("version %q is not like v1.6.13 or v1.6.13-rc1", s)
		}
		var v [4]int
		for i := 0; i < 3; i++ {
			v[i], _ = strconv.Atoi(m[i+1])
		}
		v[3] = 1 << 30 // a release sorts after all its rcs
		if m[4] != "" {
			v[3], _ = strconv.Atoi(m[4])
		}
		return v, nil
	}
	va, err := parse(a)
	if err != nil {
		return 0, err
	}
	vb, err := parse(b)
	if err != nil {
		return 0, err
	}
	for i := range va {
		if va[i] != vb[i] {
			if va[i] < vb[i] {
				return -1, nil
			}
			return 1, nil
		}
	}
	return 0, nil
}

// checkEntry checks an entry folder (infra-templates/x or project-templates/x).
func checkEntry(entryDir string, infra bool) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", entryDir, fmt.Sprintf(format, args...)))
	}
	var cfg entryConfig
	if err := readYAML(filepath.Join(entryDir, "config.yml"), &cfg); err != nil {
		return append(errs, err)
	}
	if cfg.Name == "" || cfg.Description == "" || cfg.Version == "" {
		bad("config.yml needs name, description and version")
	}
	if cfg.Maintainer != "" && !maintainerRE.MatchString(cfg.Maintainer) {
		bad("config.yml maintainer %q is not in the form Name <email>", cfg.Maintainer)
	}
	if infra {
		if cfg.Category == "" || cfg.Maintainer == "" || cfg.License == "" || cfg.ProjectURL == "" {
			bad("config.yml needs category, maintainer, license and projectURL")
		}
		icons, _ := filepath.Glob(filepath.Join(entryDir, "catalogIcon-*"))
		if len(icons) != 1 {
			bad("needs exactly one catalogIcon-* file, found %d", len(icons))
		}
		for _, icon := range icons {
			if err := checkSVG(icon); err != nil {
				bad("%v", err)
			}
		}
	}
	dirs, err := versionFolders(entryDir)
	if err != nil {
		return append(errs, err)
	}
	if len(dirs) == 0 || filepath.Base(dirs[0]) != "0" {
		bad("version folders must start at 0")
	}
	defaults := 0
	for _, d := range dirs {
		vf, err := loadVersionFolder(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if vf.Catalog.Name == "" || vf.Catalog.Version == "" {
			bad("%s: .catalog needs name and version", filepath.Base(d))
		}
		if vf.Catalog.Version == cfg.Version {
			defaults++
		}
		if c, err := compareRancherVersions(vf.Catalog.MinimumRancherVersion, minimumRancher); err != nil || c < 0 {
			bad("%s: minimum_rancher_version %q must be %s or later (%v)", filepath.Base(d), vf.Catalog.MinimumRancherVersion, minimumRancher, err)
		}
		if infra {
			if _, _, ok := vf.dockerCompose(); !ok {
				bad("%s: no docker-compose.yml(.tpl)", filepath.Base(d))
			}
			if _, ok := vf.Files["README.md"]; !ok {
				bad("%s: no README.md", filepath.Base(d))
			}
		} else if _, ok := vf.Files["project.yml"]; !ok {
			bad("%s: no project.yml", filepath.Base(d))
		}
	}
	if defaults != 1 {
		bad("config.yml version %q must be the .catalog version of exactly one folder, found %d", cfg.Version, defaults)
	}
	return errs
}

func checkSVG(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	first := ""
	for {
		tok, err := dec.Token()
		if err != nil {
			if first == "" {
				return fmt.Errorf("%s: not XML: %w", path, err)
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok && first == "" {
			first = se.Name.Local
			if first != "svg" {
				return fmt.Errorf("%s: root element is %s, not svg", path, first)
			}
		}
	}
}

// maintainerRE is the "Name <email>" form community catalogs check their entries' maintainer against.
var maintainerRE = regexp.MustCompile(`^[^<>@]*[^<>@\s] <[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+>$`)

var (
	templateIDRE        = regexp.MustCompile(`^([A-Za-z0-9_.-]+):infra\*([A-Za-z0-9_.-]+)$`)
	standardCattleInfra = []string{"network-services", "ipsec", "scheduler", "healthcheck"}
)

// checkProjectTemplate checks an environment template against the infra-templates of
// this catalog (infraRoot), assuming the catalog is added as ourCatalogName.
func checkProjectTemplate(pt projectTemplate, infraRoot string) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if pt.Name == "" || pt.Description == "" {
		bad("project.yml needs name and description")
	}
	byName := map[string]string{}
	ours := 0
	for _, s := range pt.Stacks {
		if _, dup := byName[s.Name]; dup || s.Name == "" {
			bad("stack name %q empty or used twice", s.Name)
		}
		byName[s.Name] = s.TemplateID
		m := templateIDRE.FindStringSubmatch(s.TemplateID)
		if m == nil {
			bad("stack %s: templateId %q is not '<catalog>:infra*<folder>'", s.Name, s.TemplateID)
			continue
		}
		catalogName, folder := m[1], m[2]
		switch catalogName {
		case "library":
			if len(s.Answers) > 0 {
				bad("stack %s: answers for a library stack are not checked here; keep the library defaults", s.Name)
			}
			continue
		case ourCatalogName:
		default:
			bad("stack %s: catalog %q is neither library nor %s", s.Name, catalogName, ourCatalogName)
			continue
		}
		ours++
		vf, err := defaultVersionFolder(filepath.Join(infraRoot, folder))
		if err != nil {
			bad("stack %s: templateId %q: no such infra-templates entry: %v", s.Name, s.TemplateID, err)
			continue
		}
		qs := map[string]question{}
		for _, q := range vf.Catalog.Questions {
			qs[q.Variable] = q
		}
		for k, v := range s.Answers {
			q, ok := qs[k]
			if !ok {
				bad("stack %s: answer %q has no question", s.Name, k)
				continue
			}
			switch q.Type {
			case "enum":
				if !contains(q.Options, v) {
					bad("stack %s: answer %s=%q is not one of %q", s.Name, k, v, q.Options)
				}
			case "boolean":
				if v != "true" && v != "false" {
					bad("stack %s: answer %s=%q is not true or false", s.Name, k, v)
				}
			case "password":
				if v != "" {
					bad("stack %s: answer %s: no secrets in a template file", s.Name, k)
				}
			}
		}
		for _, q := range vf.Catalog.Questions {
			if _, answered := s.Answers[q.Variable]; !answered && q.Required {
				bad("stack %s: required question %q has no answer", s.Name, q.Variable)
			}
		}
	}
	for _, std := range standardCattleInfra {
		if id, ok := byName[std]; !ok || id != "library:infra*"+std {
			bad("standard Cattle stack %s missing or not library:infra*%s (got %q)", std, std, id)
		}
	}
	if ours == 0 {
		bad("no stack from the %s catalog", ourCatalogName)
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
