package redact

import "github.com/sirupsen/logrus"

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
