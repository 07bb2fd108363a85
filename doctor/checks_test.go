package doctor

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// TestKindsNameEveryLine: every line of runs through most of what doctor meets is of exactly one kind of Kinds,
// which `doctor --help` lists; and every kind is met.
func TestKindsNameEveryLine(t *testing.T) {
	lines := manyLines(t)
	kinds := Kinds()
	met := make([]bool, len(kinds))
	for _, l := range lines {
		var of []string
		for i, k := range kinds {
			if k.Matches(l.Check) {
				of, met[i] = append(of, strings.Join(k.Names, ", ")), true
			}
		}
		if len(of) != 1 {
			t.Errorf("line %q is of %d kinds: %q", l.Check, len(of), of)
		}
	}
	for i, k := range kinds {
		if !met[i] {
			t.Errorf("no line of the kind %q", k.Names)
		}
	}
}

// TestEveryLineIsOfItsLine: every line a run writes (the folded ones of the table too) is a value of one Line of
// the table, its check that Line's name filled in; every Line is in the table once, and every one is met.
func TestEveryLineIsOfItsLine(t *testing.T) {
	lines := manyLines(t)
	rep := &Report{Checks: lines}
	lines = append(lines, rep.folded()...)
	names := lineNames()
	met := map[Line]bool{}
	for _, l := range lines {
		name, ok := names[l.line]
		if !ok || !namePattern(name).MatchString(l.Check) {
			t.Errorf("line %q is of line %d (%q)", l.Check, l.line, name)
		}
		met[l.line] = true
	}
	count := 0
	for _, k := range Kinds() {
		count += len(k.lines)
	}
	if count != len(names) || count != int(lineTime) {
		t.Errorf("the table has %d lines, %d different ones, of %d Lines", count, len(names), lineTime)
	}
	for l := Line(1); l <= lineTime; l++ {
		if !met[l] {
			t.Errorf("no line of %q", names[l])
		}
	}
	if got := fill("env <env>: registry <id>", []string{"1a5 (Default)", "1sp3"}); got != "env 1a5 (Default): registry 1sp3" {
		t.Errorf("fill = %q", got)
	}
}

// manyLines are the lines of runs through most of what doctor meets.
func manyLines(t *testing.T) []Check {
	var lines []Check
	run := func(w *world, ctx context.Context) {
		lines = append(lines, Run(ctx, w.cfg).Checks...)
	}
	// Warnings, skipped and missing environments, every kind of registry and image.
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	a := w.rancher.AddEnvironment("alpha")
	b := w.rancher.AddEnvironment("beta")
	w.rancher.SetEnvironmentState(b, "inactive")
	w.rancher.AddRegistry(a, ecrHost(account, "us-east-1"), "")
	w.rancher.AddRegistry(a, ecrHost(account, "eu-west-1"), "inactive")
	w.rancher.AddRegistry(a, "https://"+ecrHost(account, "ap-south-1")+"/", "")
	w.rancher.AddService(a, "web", ecrHost(account, "us-east-1")+"/web:1", ecrHost(account, "eu-west-1")+"/side:1")
	w.rancher.AddService(a, "bad", "docker:ngi nx")
	w.rancher.AddService(a, "auto", ecrHost(account, "us-west-2")+"/auto:1")
	w.cfg.Updater.Environments = []string{"alpha", "beta", "gamma"}
	w.cfg.Updater.Rules.AutoCreate, w.cfg.Updater.Rules.Discover = true, true
	w.cfg.Keys = []Key{{Line: LineAWSSecretKey, From: "variable AWS_SECRET_ACCESS_KEY", Exposed: true, Fix: "use a file"}}
	for l := LineRancherAccessKey; l <= LineHTTPProxy; l++ {
		if l != LineAWSSecretKey {
			w.cfg.Keys = append(w.cfg.Keys, Key{Line: l, From: "a file"})
		}
	}
	run(w, context.Background())
	// No ECR at all; then Rancher failing; then bad AWS keys; then stopped.
	w = newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	c := w.rancher.AddEnvironment("gamma")
	w.rancher.AddRegistry(c, "index.docker.io", "")
	w.rancher.AddService(c, "web", "nginx")
	run(w, context.Background())
	w.cfg.Updater.Rules.AutoCreate = true // the home registry is missing
	run(w, context.Background())
	w.cfg.Updater.Rules.AutoCreate = false
	w.rancher.AddRegistry(c, ecrHost(account, "us-east-1"), "")
	w.rancher.AddFault(ranchertest.Fault{PathContains: "/services", Status: 500, Times: 1})
	run(w, context.Background())
	w.rancher.AddFault(ranchertest.Fault{PathContains: "/registries", Status: 401, Times: 1})
	run(w, context.Background())
	w.rancher.AddFault(ranchertest.Fault{Method: "GET", PathContains: "/v2-beta/projects", Status: 500, Times: 1})
	w.cfg.Updater.ECR.Credentials = credentials.NewStaticCredentialsProvider(awsKey, "wrong-secret-000000", "")
	run(w, context.Background())
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	run(w, stopped)
	// An AWS configuration the SDK refuses.
	t.Setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem")
	w.cfg.Updater.ECR.Credentials = nil
	run(w, context.Background())
	lines = append(lines, ConfigReport(os.ErrInvalid).Checks...)
	return lines
}

func TestHelpListsEveryKind(t *testing.T) {
	help := Help()
	for _, k := range Kinds() {
		if !strings.Contains(help, "  "+strings.Join(k.Names, ", ")+"\n") || !strings.Contains(help, k.Fails+k.Says+"\n") {
			t.Errorf("Help lacks %q", k.Names)
		}
	}
}
