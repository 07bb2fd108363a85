package main

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// docFiles are the Markdown files whose relative links TestDocLinks checks: the README, DEVELOPERS.md and docs/.
func docFiles(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("docs/*.md")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md: %v", err)
	}
	return append([]string{"README.md", "DEVELOPERS.md"}, docs...)
}

var (
	fence      = regexp.MustCompile("(?ms)^```.*?^```[ \t]*$")
	codeSpan   = regexp.MustCompile("(`+)[^`].*?`+") // inline code: a link inside it is text
	mdLink     = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)\)`)
	heading    = regexp.MustCompile(`(?m)^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$`)
	headingLnk = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// slug is the anchor GitHub gives a heading: its text (links and code spans as their text), lower-cased, without
// what is not a letter, a digit, a space, a hyphen or an underscore, spaces made hyphens.
func slug(h string) string {
	h = headingLnk.ReplaceAllString(h, "$1")
	h = strings.NewReplacer("`", "", "**", "", "__", "").Replace(h)
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// anchors are the anchors of a Markdown file's headings, outside code blocks; a repeated heading gets -1, -2...
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(text, ""), -1) {
		s := slug(m[1])
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// TestDocLinks: every relative link of the README, DEVELOPERS.md and docs/*.md names a file or folder of the
// repository, and its #anchor, if any, a heading of the Markdown file it names (the same file for a bare #anchor);
// and the README links every file of docs/.
func TestDocLinks(t *testing.T) {
	files := docFiles(t)
	texts := map[string]string{}
	read := func(path string) string {
		if s, ok := texts[path]; ok {
			return s
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		texts[path] = string(b)
		return texts[path]
	}
	linked := map[string]bool{} // what the README links
	checked := 0
	for _, file := range files {
		text := codeSpan.ReplaceAllString(fence.ReplaceAllString(read(file), ""), "")
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			path, anchor, _ := strings.Cut(target, "#")
			resolved := file
			if path != "" {
				resolved = filepath.Clean(filepath.Join(filepath.Dir(file), path))
				if strings.HasPrefix(resolved, "..") {
					t.Errorf("%s: link %q leaves the repository", file, target)
					continue
				}
				if _, err := os.Stat(resolved); err != nil {
					t.Errorf("%s: link %q: no such file or folder %s", file, target, resolved)
					continue
				}
			}
			if file == "README.md" {
				linked[resolved] = true
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(resolved, ".md") {
				t.Errorf("%s: link %q: an anchor into %s, which is not Markdown", file, target, resolved)
				continue
			}
			if !anchors(read(resolved))[anchor] {
				t.Errorf("%s: link %q: %s has no heading with the anchor #%s", file, target, resolved, anchor)
			}
		}
	}
	if checked < 50 {
		t.Errorf("only %d relative links found in %v", checked, files)
	}
	for _, doc := range files[2:] {
		if !linked[doc] {
			t.Errorf("the README does not link %s", doc)
		}
	}
}

// TestSlug: the anchors GitHub makes of the headings this repository uses.
func TestSlug(t *testing.T) {
	for h, want := range map[string]string{
		"Keeping keys out of sight": "keeping-keys-out-of-sight",
		"Another environment, a Windows one, or several (Registry Environment = other)": "another-environment-a-windows-one-or-several-registry-environment--other",
		"One updater over a large world: `make bench`":                                  "one-updater-over-a-large-world-make-bench",
		"The `/healthz` and `/readyz` answer":                                           "the-healthz-and-readyz-answer",
		"doctor's report":                                                               "doctors-report",
		"Try it: two commands":                                                          "try-it-two-commands",
		"The reference, in `docs/`":                                                     "the-reference-in-docs",
	} {
		if got := slug(h); got != want {
			t.Errorf("slug(%q) = %q, want %q", h, got, want)
		}
	}
	a := anchors("# A\n```\n# Not a heading\n```\n## A\n## B #\n")
	if got := slices.Sorted(maps.Keys(a)); !slices.Equal(got, []string{"a", "a-1", "b"}) {
		t.Errorf("anchors: %v, want [a a-1 b]", got)
	}
}
