package doctor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/plan"
	"github.com/ecr-updater/ecr-updater/updater"
)

// The AWS checks: the credentials, the caller identity, and a token for every region in use, fetched with the
// pass's own token step (updater.FetchTokens).

// identity checks the AWS credentials: who they belong to, and where the SDK found them.
func (r *run) identity(ctx context.Context) []Check {
	id, err := r.ecr.CallerIdentity(ctx)
	source := r.ecr.CredentialSource()
	creds, caller := r.check(lineCredentials), r.check(lineCallerIdentity)
	creds.Result, creds.Detail = OK, "from "+source
	switch {
	case err != nil && source == "":
		creds.Result, creds.Detail = Fail, "no credentials resolved: "+err.Error()
		creds.Fix = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or " + setting.RoleARN.String() + " with a web identity, or give the host an instance or task role"
		return []Check{creds}
	case err != nil:
		caller.Result, caller.Detail = Fail, err.Error()
		caller.Fix = "the credentials were found but AWS refuses them: fix the key pair, session token or role the message names"
	default:
		caller.Result, caller.Detail = OK, fmt.Sprintf("%s (account %s)", id.ARN, id.Account)
	}
	return []Check{creds, caller}
}

// tokens fetches one token per region in use, as a pass does (updater.FetchTokens), and checks each.
func (r *run) tokens(ctx context.Context, regions []string, rancherRead bool) map[string]plan.TokenResult {
	if len(regions) == 0 {
		if rancherRead {
			c := r.check(lineTokens)
			c.Result, c.Detail = Warn, "no region in use: no in-scope ECR registry in the environments served"
			c.Fix = "add the ECR registries under Infrastructure -> Registries with the bare host, or set " + setting.AutoCreate.String() + "=true with " + setting.Region.String()
			r.add(c)
		}
		return map[string]plan.TokenResult{}
	}
	out := updater.FetchTokens(ctx, r.ecr, regions, r.cfg.Updater.Scrubber)
	for _, region := range regions {
		t := out[region]
		r.log.WithFields(logrus.Fields{"region": region, "expires": t.Token.ExpiresAt, "error": t.Err}).Debug("doctor: token fetched")
		c := r.check(lineToken, region)
		c.Region = region
		if t.Err != nil {
			c.Result, c.Detail, c.Fix = Fail, t.Err.Error(), tokenFix(t.Err, region)
		} else {
			c.Result, c.Detail = OK, fmt.Sprintf("valid until %s (%s)", t.Token.ExpiresAt.UTC().Format(time.RFC3339), t.Token.Lifetime().Round(time.Second))
		}
		r.add(c)
	}
	return out
}

func tokenFix(err error, region string) string {
	var e *ecr.Error
	if errors.As(err, &e) {
		switch e.Code {
		case "AccessDeniedException":
			return "allow ecr:GetAuthorizationToken on resource * in " + region + " for the caller identity (check SCPs and region conditions too)"
		case "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException":
			return "fix the AWS credentials: " + e.Hint
		}
		if e.Hint != "" {
			return e.Hint
		}
	}
	return "check the network path to ECR in " + region + " (proxy, NO_PROXY, AWS_ENDPOINT_URL_ECR)"
}
