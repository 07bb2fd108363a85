package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestReleaseNamesAndChecksums runs scripts/release.sh (what `make release` runs) with a stand-in for the go
// command that writes "<os> <arch>" where go build would write the binary: the files are named
// ecr-updater_<version>_<os>_<arch>[.exe], SHA256SUMS lists exactly them in sha256sum's format, and files of an
// earlier release are not listed.
func TestReleaseNamesAndChecksums(t *testing.T) {
	for _, tool := range []string{"bash", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	fakeGo := filepath.Join(dir, "go")
	script := "#!/usr/bin/env bash\nset -e\nwhile [ $# -gt 0 ]; do if [ \"$1\" = -o ]; then printf '%s %s' \"$GOOS\" \"$GOARCH\" > \"$2\"; fi; shift; done\n"
	if err := os.WriteFile(fakeGo, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(dir, "dist")
	if err := os.MkdirAll(dist, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dist, "ecr-updater_v0.9.0_linux_amd64"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("scripts/release.sh")
	cmd.Env = append(os.Environ(), "GO="+fakeGo, "DIST="+dist, "VERSION=v1.2.3-rc.1+build/7", "COMMIT=abc1234",
		"PLATFORMS=linux/amd64 linux/arm64 windows/amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release.sh: %v\n%s", err, out)
	}
	want := []string{"ecr-updater_v1.2.3-rc.1-build-7_linux_amd64", "ecr-updater_v1.2.3-rc.1-build-7_linux_arm64",
		"ecr-updater_v1.2.3-rc.1-build-7_windows_amd64.exe"}
	builtFor := []string{"linux amd64", "linux arm64", "windows amd64"}
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, slices.Sorted(slices.Values(append(slices.Clone(want), "SHA256SUMS")))) {
		t.Errorf("dist holds %q, want %q and SHA256SUMS", got, want)
	}
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	var wantSums strings.Builder
	for i, name := range want {
		b, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != builtFor[i] {
			t.Errorf("%s was built for %q, want %q", name, b, builtFor[i])
		}
		sum := sha256.Sum256(b)
		wantSums.WriteString(hex.EncodeToString(sum[:]) + "  " + name + "\n")
	}
	if string(sums) != wantSums.String() {
		t.Errorf("SHA256SUMS:\n%s\nwant:\n%s", sums, wantSums.String())
	}
}

// TestDaemonLinksNoPrometheusLibrary: client_golang, common, client_model and protobuf are test-only dependencies
// (internal/promtext/promtexttest judges the exposition with them); the daemon's own packages, with the release
// build's tags, import none of them, so the binary does not grow (docs/performance.md).
func TestDaemonLinksNoPrometheusLibrary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command(goTool, "list", "-deps", "-tags=urfave_cli_no_template,nethttpomithttp2", "-f", "{{.ImportPath}}", ".")
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/ecr-updater/ecr-updater/internal/promtext") {
		t.Fatalf("go list -deps . does not list internal/promtext: %q", deps)
	}
	forbidden := regexp.MustCompile(`^(github\.com/prometheus/|google\.golang\.org/protobuf/|github\.com/ecr-updater/ecr-updater/internal/promtext/promtexttest$)`)
	for _, d := range deps {
		if forbidden.MatchString(d) {
			t.Errorf("the daemon links %s", d)
		}
	}
}

// TestMakeHelp checks `make help` against the Makefile: every .PHONY target has a `## target:` comment right
// above its rule, and `make help` lists every one of them, in the Makefile's order, with that comment.
func TestMakeHelp(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	b, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var phony []string
	documented := map[string]string{} // target -> its `##` comment, continuation lines joined
	var order []string
	for i, line := range lines {
		if rest, ok := strings.CutPrefix(line, ".PHONY:"); ok {
			phony = append(phony, strings.Fields(rest)...)
		}
		name, desc, ok := strings.Cut(strings.TrimPrefix(line, "## "), ": ")
		if !strings.HasPrefix(line, "## ") || !ok || strings.ContainsAny(name, " \t") {
			continue
		}
		j := i + 1
		for ; j < len(lines) && strings.HasPrefix(lines[j], "## "); j++ {
			desc += " " + strings.TrimPrefix(lines[j], "## ")
		}
		if j == len(lines) || !strings.HasPrefix(lines[j], name+":") {
			t.Errorf("the comment `## %s:` is not right above the rule %s:", name, name)
			continue
		}
		documented[name] = desc
		order = append(order, name)
	}
	if len(phony) < 10 {
		t.Fatalf(".PHONY lists %d targets: the Makefile was not read right", len(phony))
	}
	for _, p := range phony {
		if _, ok := documented[p]; !ok {
			t.Errorf(".PHONY target %s has no `## %s:` comment, so `make help` does not list it", p, p)
		}
	}
	cmd := exec.Command("make", "--no-print-directory", "-s", "help")
	cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MAKELEVEL=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	// Each target's lines: "  <name> <first line>", then "  <indent> <next line>" for a longer comment.
	var listed []string
	help := map[string]string{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
		case !strings.HasPrefix(line, "   "):
			listed = append(listed, fields[0])
			help[fields[0]] = strings.Join(fields[1:], " ")
		case len(listed) > 0:
			help[listed[len(listed)-1]] += " " + strings.Join(fields, " ")
		}
	}
	if !slices.Equal(listed, order) {
		t.Errorf("make help lists %q, want %q", listed, order)
	}
	for name, desc := range documented {
		if want := strings.Join(strings.Fields(desc), " "); help[name] != want {
			t.Errorf("make help says of %s %q, want %q", name, help[name], want)
		}
	}
}

// fakeTool writes an executable named name into dir that appends its arguments to dir/calls (one line per call)
// and then runs script (a bash fragment; $1... are the arguments).
func fakeTool(t *testing.T, dir, name, script string) {
	t.Helper()
	body := "#!/usr/bin/env bash\nprintf '%s %s\\n' " + name + " \"$*\" >> " + filepath.Join(dir, "calls") + "\n" + script + "\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestImagePush runs `make image-push` (scripts/image-push.sh) with stand-ins for docker and buildah on PATH and
// checks the push it runs: docker push of IMAGE_REPO:VERSION when a Docker daemon answers, else buildah push of
// the same name in the Docker format (which keeps the HEALTHCHECK) to its registry; an image that was not built
// is refused with the command that builds it, and a name without a registry host is said to go to Docker Hub.
// (make image-check pushes a real image with buildah to a dir: destination.)
func TestImagePush(t *testing.T) {
	for _, tool := range []string{"bash", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	const repo, image = "registry.example.com/ops/ecr-updater", "registry.example.com/ops/ecr-updater:v1.0.0"
	for _, c := range []struct {
		name            string
		docker, buildah string // the stand-ins' scripts; "" leaves the tool out
		repo            string
		fails           bool
		want            []string // in the calls of the stand-ins
		output          []string // in what make printed
	}{
		{name: "docker", docker: "exit 0", buildah: "exit 1", repo: repo,
			want: []string{"docker info", "docker image inspect " + image, "docker push " + image}},
		{name: "no Docker daemon: buildah", docker: `[ "$1" = info ] && exit 1; exit 0`, buildah: `[ "$1" = from ] && echo ctr; [ "$1" = mount ] && echo /mnt; exit 0`,
			repo: repo, want: []string{"buildah inspect --type image " + image, "buildah push --format v2s2 " + image + " docker://" + image},
			output: []string{"no Docker daemon"}},
		{name: "no docker command: buildah", buildah: `[ "$1" = from ] && echo ctr; [ "$1" = mount ] && echo /mnt; exit 0`,
			repo: repo, want: []string{"buildah push --format v2s2 " + image + " docker://" + image}},
		{name: "not built", docker: `[ "$1" = image ] && exit 1; exit 0`, repo: repo, fails: true,
			output: []string{"Docker has no image " + image, "make image", "IMAGE_REPO"}},
		{name: "Docker Hub", docker: "exit 0", repo: "ecr-updater/ecr-updater",
			want: []string{"docker push ecr-updater/ecr-updater:v1.0.0"}, output: []string{"goes to Docker Hub"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.docker != "" {
				fakeTool(t, dir, "docker", c.docker)
			}
			if c.buildah != "" {
				fakeTool(t, dir, "buildah", c.buildah)
			}
			// PATH: the stand-ins, and the system's tools without any real docker or buildah.
			for _, tool := range []string{"bash", "env", "git", "make", "printf", "id", "dirname", "tr", "cut", "cat"} {
				if p, err := exec.LookPath(tool); err == nil {
					_ = os.Symlink(p, filepath.Join(dir, tool))
				}
			}
			cmd := exec.Command("make", "--no-print-directory", "image-push", "IMAGE_REPO="+c.repo, "VERSION=v1.0.0")
			cmd.Env = append(os.Environ(), "PATH="+dir, "MAKEFLAGS=", "MAKELEVEL=", "STORAGE_DRIVER=vfs")
			out, err := cmd.CombinedOutput()
			if (err != nil) != c.fails {
				t.Fatalf("make image-push: %v, want failure %v\n%s", err, c.fails, out)
			}
			calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
			for _, w := range c.want {
				if !strings.Contains(string(calls), w+"\n") {
					t.Errorf("no call %q in:\n%s", w, calls)
				}
			}
			for _, w := range c.output {
				if !strings.Contains(string(out), w) {
					t.Errorf("no %q in the output:\n%s", w, out)
				}
			}
			if c.fails && strings.Contains(string(calls), " push ") {
				t.Errorf("pushed anyway:\n%s", calls)
			}
		})
	}
}
