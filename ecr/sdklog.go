package ecr

import (
	"fmt"
	"strings"

	"github.com/aws/smithy-go/logging"
	"github.com/sirupsen/logrus"
)

// The AWS SDK's own log lines. By default the SDK prints them to stderr with the standard library's logger
// ("SDK 2026/12/04 04:38:03 WARN falling back to IMDSv1: ..."), past the daemon's level, format and scrubber.
// sdkLogger hands them to the daemon's logger instead, with the field library=aws-sdk.
//
// What the SDK logs, at the versions in go.mod: warnings (IMDSv1 fallback, an unparsable Date header, the
// instance role's credentials extended during an IMDS outage, a response body that could not be drained or
// closed), and debug lines only when aws.Config.ClientLogMode asks for them (request and response dumps, retries,
// signing). ClientLogMode is zero: nothing here sets it and the SDK reads it from no variable or profile, so none
// of those are produced.

// quietSDKWarnings are the SDK warnings that are routine for the daemon, logged at debug level.
var quietSDKWarnings = []string{
	// The instance metadata service refused or did not answer the IMDSv2 token request (a container behind a hop
	// limit of 1, an IMDS that answers 403 on the token PUT, or no IMDS at all); the SDK tries IMDSv1, and a
	// failure to get credentials that way is reported as an error of its own.
	"falling back to IMDSv1",
	// A connection closed early after an answer was read: it only means the connection is not reused.
	"failed to discard remaining HTTP response body",
	"failed to close HTTP response body",
}

// sdkLogger is a smithy-go logger that writes to log: the SDK's warnings at warning level (those in
// quietSDKWarnings at debug level), everything else at debug level. A nil log drops every line.
func sdkLogger(log logrus.FieldLogger) logging.Logger {
	if log == nil {
		return logging.Nop{}
	}
	log = log.WithField("library", "aws-sdk")
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		msg := strings.TrimSpace(fmt.Sprintf(format, v...))
		if c == logging.Warn && !quiet(msg) {
			log.Warn(msg)
			return
		}
		log.Debug(msg)
	})
}

func quiet(msg string) bool {
	for _, q := range quietSDKWarnings {
		if strings.HasPrefix(msg, q) {
			return true
		}
	}
	return false
}
