package updater

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/internal/standin"
)

// TestServeLogsThroughTheLogger: the health server's own errors (here a handler's panic, which net/http recovers
// and reports) are a log line of the logger handed to Serve, at warning level, not a line of package log.
func TestServeLogsThroughTheLogger(t *testing.T) {
	var out standin.Buffer
	log := logrus.New()
	log.Out = &out
	log.SetFormatter(&logrus.JSONFormatter{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("handler broke") })
	go func() { done <- Serve(ctx, ln, h, log) }()
	if resp, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		resp.Body.Close()
		t.Error("the panicking handler answered")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out.String())), &m); err != nil || m["level"] != "warning" ||
		m["library"] != "net/http" || !strings.Contains(m["msg"].(string), "panic serving") || !strings.Contains(m["msg"].(string), "handler broke") {
		t.Errorf("logged %q (%v)", out.String(), err)
	}
}

func TestLogWriterLevels(t *testing.T) {
	var out bytes.Buffer
	log := logrus.New()
	log.Out = &out
	log.SetLevel(logrus.DebugLevel)
	log.SetFormatter(&logrus.JSONFormatter{})
	for _, level := range []logrus.Level{logrus.DebugLevel, logrus.InfoLevel, logrus.WarnLevel, logrus.ErrorLevel} {
		out.Reset()
		if n, err := LogWriter(log, level).Write([]byte("one message\n")); n != 12 || err != nil {
			t.Errorf("Write = %d, %v", n, err)
		}
		var m map[string]any
		if err := json.Unmarshal(out.Bytes(), &m); err != nil || m["level"] != level.String() || m["msg"] != "one message" {
			t.Errorf("%s: %q", level, out.String())
		}
	}
}
