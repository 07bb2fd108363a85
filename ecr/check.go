package ecr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecr-updater/ecr-updater/internal/setting"
)

// What a diagnosis needs besides tokens: who the credentials belong to, and whether a token actually opens a
// registry. Both make only reads; neither is used by a pass.

// Identity is the caller identity of the AWS credentials, as STS GetCallerIdentity answers it.
type Identity struct {
	Account, ARN, UserID string
}

// CallerIdentity asks STS GetCallerIdentity (in the home region, or us-east-1 without one) who the credentials
// belong to; every principal may call it, so an error means the credentials themselves do not work.
func (c *Client) CallerIdentity(ctx context.Context) (Identity, error) {
	ctx, cancel := context.WithTimeout(ctx, c.conf.Timeout)
	defer cancel()
	region := c.conf.HomeRegion
	if region == "" {
		region = "us-east-1"
	}
	client := sts.NewFromConfig(c.cfg, func(o *sts.Options) {
		o.Region = region
		if c.conf.STSEndpoint != "" {
			o.BaseEndpoint = aws.String(c.conf.STSEndpoint)
		}
	})
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		msg := fmt.Sprintf("STS GetCallerIdentity in %s: %v", region, err)
		var e *Error
		if errors.As(explain(region, err), &e) && e.Hint != "" {
			msg += " (" + e.Hint + ")"
		}
		return Identity{}, errors.New(msg)
	}
	id := Identity{Account: aws.ToString(out.Account), ARN: aws.ToString(out.Arn), UserID: aws.ToString(out.UserId)}
	if !ValidAccount(id.Account) || id.ARN == "" {
		return Identity{}, fmt.Errorf("STS GetCallerIdentity in %s answered without a 12-digit account and an ARN", region)
	}
	return id, nil
}

// RegistryError is a registry host that did not open with a token.
type RegistryError struct {
	Host, Region string
	// Status is the HTTP status of GET https://<host>/v2/, 0 when no answer came.
	Status int
	Hint   string
	Err    error
}

func (e *RegistryError) Error() string {
	msg := "GET https://" + e.Host + "/v2/ with the " + e.Region + " token: "
	if e.Status != 0 {
		msg += fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	} else {
		msg += e.Err.Error()
	}
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

func (e *RegistryError) Unwrap() error { return e.Err }

// maxRegistryBody bounds what is read of a registry's answer.
const maxRegistryBody = 4 << 10

// CheckRegistry asks the registry at host whether tok opens it, as a Docker client would before a pull:
// GET https://<host>/v2/ with Basic AWS:<password>. A 200 means it does (nil); a 401 means the token does not work
// there (another region's token, or a registry the principal may not use). It goes through the same HTTP client
// as the ECR calls (AWS_CA_BUNDLE, proxies, no redirects: redirect.go), within Config.Timeout. host must be an ECR registry.
func (c *Client) CheckRegistry(ctx context.Context, host string, tok Token) error {
	reg, err := ParseServerAddress(host)
	if err != nil {
		return fmt.Errorf("check registry: %w", err)
	}
	e := &RegistryError{Host: reg.Host, Region: tok.Region}
	if tok.Password.Empty() || tok.Region != reg.Region {
		e.Err = fmt.Errorf("no token of region %s at hand", reg.Region)
		return e
	}
	ctx, cancel := context.WithTimeout(ctx, c.conf.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+reg.Host+"/v2/", nil)
	if err != nil {
		return fmt.Errorf("check registry %s: %w", reg.Host, err)
	}
	req.SetBasicAuth(User, tok.Password.Reveal())
	start := time.Now()
	resp, err := c.cfg.HTTPClient.Do(req)
	if c.conf.Observe != nil {
		c.conf.Observe("registry /v2/", time.Since(start), err)
	}
	var redirect *RedirectError
	switch {
	case errors.As(err, &redirect):
		e.Err = err
		e.Hint = "the registry answered with a redirect, which is never followed: the token stays with the registry's own host (a proxy in the way?)"
		return e
	case err != nil:
		e.Err = err
		e.Hint = "the registry could not be reached: check the network path to it (DNS, proxy, NO_PROXY, VPC endpoint)"
		if errors.Is(err, context.DeadlineExceeded) {
			e.Hint = "no answer within " + setting.ECRTimeout.String() + ": check the network path to it (DNS, proxy, NO_PROXY, VPC endpoint)"
		}
		return e
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxRegistryBody))
	_ = resp.Body.Close()
	switch e.Status = resp.StatusCode; e.Status {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized:
		e.Hint = "the registry refused the token: the IAM principal may not use this registry (a registry of another account needs a registry or repository policy that allows it)"
	case http.StatusForbidden:
		e.Hint = "the registry denied the token: the IAM principal lacks pull permissions (ecr:BatchGetImage, ecr:GetDownloadUrlForLayer) there"
	default:
		e.Hint = "the answer of an ECR registry is 200 or 401; something else answered (a proxy?)"
	}
	return e
}
