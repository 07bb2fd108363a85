package ecr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/ecr-updater/ecr-updater/internal/setting"
)

// Error is a failed token fetch, explained.
type Error struct {
	Region string
	// Code is the AWS error code ("AccessDeniedException", ...) or "" for other failures.
	Code string
	// Kind is the failure in one word of a fixed vocabulary (the Kind* constants): what a status page may show to
	// anyone, where the error text (which can carry the IAM principal's ARN) belongs in the log.
	Kind string
	// Hint says what to fix, when that is known.
	Hint string
	Err  error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("get ECR authorization token in %s: %v", e.Region, e.Err)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// The kinds of Error.Kind.
const (
	KindAccessDenied       = "AccessDenied"       // the principal may not do it (or may not assume the role)
	KindInvalidClientToken = "InvalidClientToken" // AWS does not know the access key id or the session token
	KindInvalidSignature   = "InvalidSignature"   // the secret key does not belong to the key id
	KindExpiredToken       = "ExpiredToken"       // the temporary credentials have expired
	KindThrottling         = "Throttling"         // ECR or STS is throttling the account
	KindServerError        = "ServerError"        // AWS had an internal error or is unavailable
	KindWebIdentity        = "WebIdentity"        // STS refused the web identity token or could not check it
	KindRequest            = "Request"            // AWS refused the request itself (a parameter, an operation, a region)
	KindAWSError           = "AWSError"           // another AWS error code
	KindNoCredentials      = "NoCredentials"      // the SDK found no usable credentials
	KindInvalidToken       = "InvalidToken"       // ECR's answer held no token, or one that does not decode or validate
	KindTimeout            = "Timeout"            // no answer in time
	KindRedirect           = "Redirect"           // an answer was a redirect, which is never followed
	KindNetwork            = "network"            // the endpoint could not be reached (DNS, connection, proxy, TLS)
)

// kinds maps AWS error codes to kinds.
var kinds = map[string]string{
	"AccessDeniedException":                KindAccessDenied,
	"AccessDenied":                         KindAccessDenied,
	"UnrecognizedClientException":          KindInvalidClientToken,
	"InvalidClientTokenId":                 KindInvalidClientToken,
	"MissingAuthenticationTokenException":  KindInvalidClientToken,
	"InvalidSignatureException":            KindInvalidSignature,
	"SignatureDoesNotMatch":                KindInvalidSignature,
	"ExpiredTokenException":                KindExpiredToken,
	"ExpiredToken":                         KindExpiredToken,
	"ThrottlingException":                  KindThrottling,
	"Throttling":                           KindThrottling,
	"TooManyRequestsException":             KindThrottling,
	"RequestLimitExceeded":                 KindThrottling,
	"ServerException":                      KindServerError,
	"InternalFailure":                      KindServerError,
	"ServiceUnavailable":                   KindServerError,
	"ServiceUnavailableException":          KindServerError,
	"InvalidIdentityToken":                 KindWebIdentity,
	"IDPCommunicationErrorException":       KindWebIdentity,
	"IDPRejectedClaim":                     KindWebIdentity,
	"InvalidParameterException":            KindRequest,
	"UnknownOperationException":            KindRequest,
	"RegionDisabledException":              KindRequest,
	"InvalidAuthorizationMessageException": KindRequest,
}

// hints maps AWS error codes to what an operator should check. The variables named are the SDK's own (it reads
// them; ecr-updater defines none of them); the role ARN setting is ecr-updater's, so explain names it.
var hints = map[string]string{
	"AccessDeniedException":                "the IAM principal needs ecr:GetAuthorizationToken on resource * in this region",
	"UnrecognizedClientException":          "AWS does not know AWS_ACCESS_KEY_ID, or AWS_SESSION_TOKEN is invalid",
	"InvalidClientTokenId":                 "AWS does not know AWS_ACCESS_KEY_ID, or AWS_SESSION_TOKEN is invalid",
	"InvalidSignatureException":            "AWS_SECRET_ACCESS_KEY does not belong to AWS_ACCESS_KEY_ID",
	"SignatureDoesNotMatch":                "AWS_SECRET_ACCESS_KEY does not belong to AWS_ACCESS_KEY_ID",
	"ExpiredTokenException":                "the temporary AWS credentials (AWS_SESSION_TOKEN or the assumed role's) have expired",
	"ExpiredToken":                         "the temporary AWS credentials (AWS_SESSION_TOKEN or the assumed role's) have expired",
	"MissingAuthenticationTokenException":  "no AWS credentials were sent",
	"ThrottlingException":                  "ECR is throttling this account and region; the updater backs off and retries",
	"ServerException":                      "ECR had an internal error; the updater retries",
	"InvalidParameterException":            "ECR refused the request",
	"RegionDisabledException":              "the region is not enabled for this account",
	"UnknownOperationException":            "the ECR endpoint does not speak the ECR API; check AWS_ENDPOINT_URL_ECR",
	"InvalidIdentityToken":                 "the web identity token is not accepted by STS",
	"IDPCommunicationErrorException":       "STS could not reach the web identity provider",
	"InvalidAuthorizationMessageException": "STS refused the request",
}

// explain wraps err with the region, the AWS error code and a hint.
func explain(region string, err error) error {
	e := &Error{Region: region, Err: err}
	var api smithy.APIError
	var tokErr *TokenError
	switch {
	case errors.As(err, &api):
		e.Code = api.ErrorCode()
		e.Hint = hints[e.Code]
		if e.Code == "AccessDenied" {
			e.Hint = "the IAM principal may not assume " + setting.RoleARN.String() + ", or the role lacks ecr:GetAuthorizationToken"
		}
		e.Kind = kinds[e.Code]
		if e.Kind == "" {
			e.Kind = KindAWSError
		}
	case errors.As(err, &tokErr):
		e.Hint = "nothing was written with it"
		e.Kind = KindInvalidToken
	case errors.Is(err, errNoData):
		e.Kind = KindInvalidToken
	case errors.Is(err, context.DeadlineExceeded):
		e.Hint = "ECR did not answer in time; check the network path (proxy, NO_PROXY, VPC endpoint)"
		e.Kind = KindTimeout
	case strings.Contains(err.Error(), "failed to retrieve credentials") || strings.Contains(err.Error(), "failed to refresh cached credentials"):
		e.Hint = "no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or give the host an instance or task role"
		e.Kind = KindNoCredentials
	}
	if e.Kind == "" {
		e.Kind = transportKind(err)
	}
	return e
}

// transportKind is the kind of a failure that is not an AWS error: a refused redirect, else the network.
func transportKind(err error) string {
	var redirect *RedirectError
	if errors.As(err, &redirect) {
		return KindRedirect
	}
	return KindNetwork
}
