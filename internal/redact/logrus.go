package redact

import (
	"io"

	"github.com/sirupsen/logrus"
)

// Formatter wraps a logrus formatter and scrubs every line it formats.
type Formatter struct {
	Inner    logrus.Formatter
	Scrubber *Scrubber
}

// Format implements logrus.Formatter.
func (f *Formatter) Format(e *logrus.Entry) ([]byte, error) {
	b, err := f.Inner.Format(e)
	if err != nil || f.Scrubber == nil {
		return b, err
	}
	return []byte(f.Scrubber.Scrub(string(b))), nil
}

// Writer scrubs what is written through it: each Write is scrubbed whole, so a line written in one call (a log
// entry, an exit message) is scrubbed whole.
type Writer struct {
	W        io.Writer
	Scrubber *Scrubber
}

// Write implements io.Writer. It reports len(p) written when the scrubbed text was written whole.
func (w *Writer) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.W, w.Scrubber.Scrub(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
