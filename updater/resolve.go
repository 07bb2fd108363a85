package updater

import (
	"context"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/rancher"
)

// What a diagnosis (ecr-updater doctor) needs of the rules, so that it judges the world exactly as a pass does.

// ResolveEnvironments resolves RANCHER_ENVIRONMENTS (sel) against srv exactly as a scheduled pass does: with no
// selection, the one environment of CATTLE_URL or of the key (key ""); otherwise every environment selected,
// inactive ones marked, unknown or ambiguous ones with an error. A *ConfigError is a selection no retry can fix.
func ResolveEnvironments(ctx context.Context, srv *rancher.Server, sel []string) ([]*EnvResult, error) {
	u := &Updater{server: srv, cfg: Config{Environments: sel}}
	return u.targets(ctx)
}

// Key is the environment as asked for: the id to give rancher.Server.Open or Inspect, "" for the environment of
// CATTLE_URL or of the key.
func (e *EnvResult) Key() string { return e.key }

// Label names the environment for output: "1a5 (Default)", or "(the key's environment)".
func (e *EnvResult) Label() string { return e.label() }

// Classify applies the scope rule of Plan to one registry: its parsed ECR host (when it is one), the verdict, and
// the reason for any verdict but in scope and not ECR.
func Classify(r Rules, reg rancher.Registry) (ecr.Registry, Verdict, string) { return classify(r, reg) }

// AccountInScope and RegionInScope apply AWS_ECR_REGISTRY_IDS and ECR_REGIONS.
func (r Rules) AccountInScope(account string) bool { return r.accountInScope(account) }

// RegionInScope applies ECR_REGIONS.
func (r Rules) RegionInScope(region string) bool { return r.regionInScope(region) }
