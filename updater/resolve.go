package updater

import (
	"context"

	"github.com/ecr-updater/ecr-updater/rancher"
)

// What a diagnosis (ecr-updater doctor) needs of the pass, so that it judges the world exactly as a pass does (the
// rules themselves are package plan's).

// ResolveEnvironments resolves RANCHER_ENVIRONMENTS (sel) against srv exactly as a scheduled pass does: with no
// selection, the one environment of CATTLE_URL or of the key (key ""); otherwise every environment selected,
// inactive ones marked, unknown or ambiguous ones with an error. A *ConfigError is a selection no retry can fix.
func ResolveEnvironments(ctx context.Context, srv *rancher.Server, sel []string) ([]*EnvResult, error) {
	u := &Updater{server: srv, cfg: Config{Environments: sel}}
	return u.resolve(ctx)
}

// Key is the environment as asked for: the id to give rancher.Server.Open or Inspect, "" for the environment of
// CATTLE_URL or of the key.
func (e *EnvResult) Key() string { return e.key }

// Label names the environment for output: "1a5 (Default)", or "(the key's environment)".
func (e *EnvResult) Label() string { return e.label() }
