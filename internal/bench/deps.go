package main

import (
	"bytes"
	"cmp"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// What each dependency costs (-daemon -deps): the bench builds the daemon a second time without -s -w, which only
// leaves out the symbol table and DWARF, so that its loaded segments are byte for byte those of the stripped
// binary (checked). Each symbol of that build is given to the module of its package (go list -deps), and then:
//   - binary bytes: the sizes of the module's symbols in the file. The function tables (.gopclntab and go:func.*)
//     have no per-package symbols: they are shared out in proportion to each module's code, an estimate;
//   - idle RSS: the daemon's resident pages (/proc/<pid>/pagemap, present and file-page bits), each page's bytes
//     given to the symbols on it. File-backed pages are clean page cache of the executable; anonymous pages in
//     the binary's range are written .data and .bss. Anonymous memory outside the binary (Go heap, stacks, the
//     runtime's own structures) has no symbol and gets a row of its own.

const pageSize = 4096

type pageState uint8

const (
	pageAbsent pageState = iota
	pageFile
	pageAnon
)

type depRow struct {
	group            string
	bytes, estimated int64 // symbol bytes in the file; with the estimated share of the function tables
	resFile, resAnon int64 // resident bytes when idle
}

type depsReport struct {
	rows      []*depRow
	fileBytes int64 // the stripped binary
	tables    int64 // function tables shared out by code size
	outside   int64 // anonymous RSS outside the binary's segments
	rssAnon   int64
	rssFile   int64
}

const (
	groupTables     = "function tables (.gopclntab, go:func.*), shared out by code size"
	groupOther      = "unattributed (padding, ELF headers, runtime data without a package)"
	groupOutsideBin = "Go heap, stacks and runtime structures (anonymous, outside the binary)"
)

// span is a range of the address space given to one group.
type span struct {
	start, end uint64
	group      string
}

// attribute builds the table for the running daemon pid, whose binary is stripped; symbolic is the same build
// with its symbols.
func attribute(ctx context.Context, symbolic, stripped string, pid int) (*depsReport, error) {
	sf, err := elf.Open(symbolic)
	if err != nil {
		return nil, err
	}
	defer sf.Close()
	tf, err := elf.Open(stripped)
	if err != nil {
		return nil, err
	}
	defer tf.Close()
	if !sameLoad(sf, tf) {
		return nil, errors.New("the symbol build's loaded segments differ from the stripped binary's: no attribution")
	}
	groups, err := packageGroups(ctx)
	if err != nil {
		return nil, err
	}
	syms, err := sf.Symbols()
	if err != nil {
		return nil, fmt.Errorf("symbols of %s: %w", symbolic, err)
	}
	t := &tally{rep: &depsReport{}, rows: map[string]*depRow{}}
	if st, err := os.Stat(stripped); err == nil {
		t.rep.fileBytes = st.Size()
	}
	flat := t.file(sf, syms, groups)
	inBinaryAnon, err := t.resident(sf, pid, flat)
	if err != nil {
		return nil, err
	}
	status, err := procStatusOf(fmt.Sprint(pid))
	if err != nil {
		return nil, err
	}
	rep := t.rep
	rep.rssAnon, rep.rssFile = status["RssAnon"]*1024, status["RssFile"]*1024
	rep.outside = rep.rssAnon - inBinaryAnon
	t.row(groupOutsideBin).resAnon = rep.outside
	rep.rows = t.sorted()
	return rep, nil
}

// tally is the table being built: the report and its rows by group.
type tally struct {
	rep  *depsReport
	rows map[string]*depRow
}

// row is the row of group g, added if it is not there yet.
func (t *tally) row(g string) *depRow {
	if t.rows[g] == nil {
		t.rows[g] = &depRow{group: g}
	}
	return t.rows[g]
}

// file gives the bytes of the file to the groups: each loaded symbol's to its package's, the function tables
// shared out by code size, the rest unattributed. It returns the groups' address spans, sorted, without overlaps.
func (t *tally) file(sf *elf.File, syms []elf.Symbol, groups groupMap) []span {
	var spans []span
	code := map[string]int64{}
	for _, s := range syms {
		sec := loadedSection(sf, s)
		if sec == nil {
			continue
		}
		g := groups.of(s.Name)
		if s.Name == "go:func.*" {
			g = groupTables
		}
		spans = append(spans, span{s.Value, s.Value + s.Size, g})
		t.symbol(g, sec, int64(s.Size), code)
	}
	if pcln := sf.Section(".gopclntab"); pcln != nil {
		spans = append(spans, span{pcln.Addr, pcln.Addr + pcln.Size, groupTables})
		t.row(groupTables).bytes += int64(pcln.Size)
		t.rep.tables += int64(pcln.Size)
	}
	t.shareTables(code)
	t.unattributed()
	return flatten(spans)
}

// loadedSection is the section of a symbol that has bytes in the loaded image, nil for any other symbol.
func loadedSection(sf *elf.File, s elf.Symbol) *elf.Section {
	if s.Size == 0 || int(s.Section) >= len(sf.Sections) || s.Section == elf.SHN_UNDEF {
		return nil
	}
	sec := sf.Sections[s.Section]
	if sec.Flags&elf.SHF_ALLOC == 0 {
		return nil
	}
	return sec
}

// symbol counts the size of a symbol of group g in section sec: its bytes in the file (not for .bss), and in code
// when in .text.
func (t *tally) symbol(g string, sec *elf.Section, size int64, code map[string]int64) {
	if sec.Type != elf.SHT_NOBITS {
		t.row(g).bytes += size
		if g == groupTables {
			t.rep.tables += size
		}
	}
	if sec.Name == ".text" {
		code[g] += size
	}
}

// shareTables gives each group with code the estimate of its bytes with its share of the function tables.
func (t *tally) shareTables(code map[string]int64) {
	var codeTotal int64
	for _, c := range code {
		codeTotal += c
	}
	for g, c := range code {
		if codeTotal > 0 {
			t.row(g).estimated = t.row(g).bytes + t.rep.tables*c/codeTotal
		}
	}
}

// unattributed gives the bytes of the stripped file that no row has to groupOther.
func (t *tally) unattributed() {
	var assigned int64
	for _, r := range t.rows {
		assigned += r.bytes
	}
	t.row(groupOther).bytes += t.rep.fileBytes - assigned
}

// flatten sorts spans by start and leaves each byte to the first span that covers it (symbols may overlap:
// aggregates).
func flatten(spans []span) []span {
	slices.SortStableFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	var last uint64
	var flat []span
	for _, s := range spans {
		s.start = max(s.start, last)
		if s.start < s.end {
			flat = append(flat, s)
			last = s.end
		}
	}
	return flat
}

// resident gives the resident pages of the binary's loaded segments to the groups of flat, segment by segment,
// and returns the anonymous bytes among them.
func (t *tally) resident(sf *elf.File, pid int, flat []span) (inBinaryAnon int64, err error) {
	for _, p := range sf.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		start, end := p.Vaddr&^(pageSize-1), p.Vaddr+p.Memsz
		pages, err := residentPages(pid, start, end)
		if err != nil {
			return 0, err
		}
		inBinaryAnon += t.segment(start, pages, flat)
	}
	return inBinaryAnon, nil
}

// segment gives the resident pages of one segment, from start, to the groups of flat; it returns the anonymous
// bytes among them.
func (t *tally) segment(start uint64, pages []pageState, flat []span) (anon int64) {
	i := 0
	for n, st := range pages {
		if st == pageAbsent {
			continue
		}
		lo := start + uint64(n)*pageSize
		for i < len(flat) && flat[i].end <= lo {
			i++
		}
		t.page(st, lo, lo+pageSize, flat[i:])
		if st == pageAnon {
			anon += pageSize
		}
	}
	return anon
}

// page gives the bytes of the resident page [lo, hi) to the spans that cover it, from the first of flat on, and
// the rest to groupOther.
func (t *tally) page(st pageState, lo, hi uint64, flat []span) {
	covered := uint64(0)
	for j := 0; j < len(flat) && flat[j].start < hi; j++ {
		b := min(hi, flat[j].end) - max(lo, flat[j].start)
		covered += b
		add(t.row(flat[j].group), st, int64(b))
	}
	add(t.row(groupOther), st, int64(pageSize-covered))
}

// sorted is the rows, by bytes, largest first, the pseudo-rows last.
func (t *tally) sorted() []*depRow {
	rows := make([]*depRow, 0, len(t.rows))
	for _, r := range t.rows {
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b *depRow) int {
		if c := cmp.Compare(pseudoRowOrder(a), pseudoRowOrder(b)); c != 0 {
			return c
		}
		return cmp.Compare(b.bytes, a.bytes)
	})
	return rows
}

// pseudoRowOrder places the pseudo-rows after the groups.
func pseudoRowOrder(r *depRow) int {
	switch r.group {
	case groupTables:
		return 1
	case groupOther:
		return 2
	case groupOutsideBin:
		return 3
	}
	return 0
}

func add(r *depRow, st pageState, b int64) {
	if st == pageFile {
		r.resFile += b
	} else {
		r.resAnon += b
	}
}

// sameLoad says whether two ELF files load the same segments at the same addresses.
func sameLoad(a, b *elf.File) bool {
	load := func(f *elf.File) []elf.ProgHeader {
		var out []elf.ProgHeader
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD {
				out = append(out, p.ProgHeader)
			}
		}
		return out
	}
	return slices.Equal(load(a), load(b))
}

// groupMap gives a symbol's package to its group: a module, or a part of the standard library or of this module.
type groupMap map[string]string

func packageGroups(ctx context.Context) (groupMap, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-f", "{{.ImportPath}}\t{{with .Module}}{{.Path}}{{end}}\t{{.Standard}}", ".")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps: %w", err)
	}
	m := groupMap{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		pkg, mod, std := f[0], f[1], f[2] == "true"
		switch {
		case std:
			m[pkg] = stdGroup(pkg)
		case mod == "github.com/ecr-updater/ecr-updater":
			m[pkg] = "this module: " + ownGroup(pkg)
		default:
			m[pkg] = mod
		}
	}
	return m, nil
}

func stdGroup(pkg string) string {
	pkg = strings.TrimPrefix(pkg, "vendor/")
	switch {
	case pkg == "runtime" || strings.HasPrefix(pkg, "runtime/") || strings.HasPrefix(pkg, "internal/runtime/"):
		return "std: runtime"
	case strings.HasPrefix(pkg, "crypto") || strings.HasPrefix(pkg, "golang.org/x/crypto"):
		return "std: crypto, TLS"
	case strings.HasPrefix(pkg, "net") || strings.HasPrefix(pkg, "golang.org/x/net"):
		return "std: net, net/http"
	}
	return "std: the rest"
}

func ownGroup(pkg string) string {
	switch {
	case strings.Contains(pkg, "test") || strings.Contains(pkg, "/internal/demo") || strings.Contains(pkg, "/internal/standin"):
		return "demo and stand-ins"
	}
	return "updater, rancher, ecr, main"
}

// of is the group of a symbol name.
func (m groupMap) of(name string) string {
	pkg := symbolPackage(name)
	if g, ok := m[pkg]; ok {
		return g
	}
	if g, ok := m["vendor/"+pkg]; ok {
		return g
	}
	if pkg == "main" {
		return "this module: updater, rancher, ecr, main"
	}
	return groupOther
}

// symbolPackage is the import path of the package that defined a Go symbol: type:.eq.[4]net/url.URL gives net/url,
// an itab of *github.com/a/b.T for io.Reader and github.com/a/b.(*T).M give github.com/a/b.
func symbolPackage(name string) string {
	for changed := true; changed; {
		changed = false
		for _, p := range []string{"type:.eq.", "type:.hash.", "type:", "go:itab.", "go:link.", "go:", "*"} {
			if s, ok := strings.CutPrefix(name, p); ok {
				name, changed = s, true
			}
		}
		if strings.HasPrefix(name, "[") {
			if i := strings.IndexByte(name, ']'); i > 0 {
				name, changed = name[i+1:], true
			}
		}
	}
	if i := strings.IndexAny(name, "(,[ {"); i >= 0 {
		name = name[:i]
	}
	slash := strings.LastIndexByte(name, '/')
	if dot := strings.IndexByte(name[slash+1:], '.'); dot >= 0 {
		name = name[:slash+1+dot]
	}
	return strings.ReplaceAll(name, "%2e", ".") // the linker escapes dots in the last element: yaml%2ev3
}

func (r *depsReport) print(out io.Writer) {
	fmt.Fprintf(out, "what each dependency costs (stripped binary %d bytes; idle RSS anonymous %s + file-backed %s)\n",
		r.fileBytes, mbBytes(uint64(r.rssAnon)), mbBytes(uint64(r.rssFile)))
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "group\tbinary bytes\twith function tables (est.)\tidle RSS file-backed\tidle RSS anonymous\t")
	var tb, tf, ta int64
	for _, row := range r.rows {
		est := ""
		if row.estimated > 0 {
			est = fmt.Sprint(row.estimated)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t\n", row.group, row.bytes, est, mbBytes(uint64(row.resFile)), mbBytes(uint64(row.resAnon)))
		tb, tf, ta = tb+row.bytes, tf+row.resFile, ta+row.resAnon
	}
	fmt.Fprintf(tw, "total\t%d\t\t%s\t%s\t\n", tb, mbBytes(uint64(tf)), mbBytes(uint64(ta)))
	_ = tw.Flush()
	var md bytes.Buffer
	fmt.Fprintln(&md, "| Dependency | Binary bytes | With function tables (est.) | Idle RSS, file-backed | Idle RSS, anonymous |")
	fmt.Fprintln(&md, "|---|---:|---:|---:|---:|")
	for _, row := range r.rows {
		est := ""
		if row.estimated > 0 {
			est = fmt.Sprintf("%.2f MB", float64(row.estimated)/1e6)
		}
		fmt.Fprintf(&md, "| %s | %.2f MB | %s | %.2f MB | %.2f MB |\n", row.group, float64(row.bytes)/1e6, est,
			float64(row.resFile)/1e6, float64(row.resAnon)/1e6)
	}
	fmt.Fprintln(out, "\nas Markdown, for docs/performance.md:")
	_, _ = out.Write(md.Bytes())
}
