package updater

import (
	"io"
	"strings"

	"github.com/sirupsen/logrus"
)

// LogWriter is an io.Writer for the standard library's log.Logger (one Write per message) that hands every
// message to log at level, so that what net/http and any other library print through package log takes the
// daemon's level, format and scrubber instead of going to stderr as it is.
func LogWriter(log logrus.FieldLogger, level logrus.Level) io.Writer {
	return lineWriter{log: log, level: level}
}

type lineWriter struct {
	log   logrus.FieldLogger
	level logrus.Level
}

func (w lineWriter) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\r\n")
	switch {
	case w.level >= logrus.DebugLevel:
		w.log.Debug(msg)
	case w.level == logrus.InfoLevel:
		w.log.Info(msg)
	case w.level == logrus.WarnLevel:
		w.log.Warn(msg)
	default:
		w.log.Error(msg)
	}
	return len(p), nil
}
