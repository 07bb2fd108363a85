package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"
)

// Stopping. SIGTERM (docker stop, Rancher), SIGINT (Ctrl-C) and SIGHUP (a closed terminal, or an operator who
// expects a reload) all stop the daemon gracefully: no new pass and no new write, and the writes in flight get
// updater.Config.Grace to finish. Signals that arrive after the first are ignored, so that nothing kills the
// process in the middle of a write.

// stopSignal is the cause of the context's cancellation when a signal arrived.
type stopSignal struct{ sig os.Signal }

func (s stopSignal) Error() string { return "received " + signalName(s.sig) }

func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

// signalContext is cancelled, with a stopSignal as its cause, at the first SIGTERM, SIGINT or SIGHUP. The
// signals stay caught until stop is called.
func signalContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			cancel(stopSignal{sig})
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		signal.Stop(ch)
		cancel(nil)
	}
}

// logStopping logs which signal stops the command, when one does; the returned function ends the watch and
// waits for the log line.
func logStopping(ctx context.Context, log logrus.FieldLogger) func() {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-ctx.Done():
		case <-done:
		}
		var sig stopSignal
		if errors.As(context.Cause(ctx), &sig) {
			log.WithField("signal", signalName(sig.sig)).Info("stopping: no new pass or write; writes in flight get the grace to finish")
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
