package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v3"

	"github.com/ecr-updater/ecr-updater/doctor"
	"github.com/ecr-updater/ecr-updater/internal/redact"
)

// doctorCommand is `ecr-updater doctor`: the checks of package doctor, with the configuration loaded exactly as the
// daemon loads it (load, with the same variables and flags).
func doctorCommand(stdout, stderr io.Writer, scrubber *redact.Scrubber) *cli.Command {
	return &cli.Command{
		Name: "doctor",
		Usage: "check, without writing anything, everything a pull from ECR through Rancher depends on; " +
			"exit 0 when all is well, 1 when something would make a pull fail, 2 for configuration errors",
		Description: names().Replace(doctor.Help()),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Value: "text", Usage: "text (a table) or json"},
		},
		Action: func(ctx context.Context, c *cli.Command) error {
			format := strings.ToLower(strings.TrimSpace(c.String("output")))
			if format != "text" && format != "json" {
				return configErr("--output: %q is not text or json", c.String("output"))
			}
			return runDoctor(ctx, c, format, stdout, stderr, scrubber)
		},
	}
}

func runDoctor(ctx context.Context, c *cli.Command, format string, stdout, stderr io.Writer, all *redact.Scrubber) error {
	var rep *doctor.Report
	var scrubber *redact.Scrubber
	s, err := load(c, stderr, all)
	var ee *exitError
	switch {
	case errors.As(err, &ee) && ee.code == exitConfig:
		rep = doctor.ConfigReport(ee.err)
		scrubber = all // load taught it the keys
	case err != nil:
		return err
	default:
		scrubber = s.scrubber
		if s.log.IsLevelEnabled(logrus.DebugLevel) {
			s.logStart("doctor")
		}
		rep = doctor.Run(ctx, doctor.Config{Updater: s.updater, Summary: s.summary(), Keys: s.in.doctorKeys()})
	}
	write := rep.WriteText
	if format == "json" {
		write = rep.WriteJSON
	}
	if err := write(stdout, scrubber); err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("write the report: %w", err)}
	}
	if code := rep.Exit(); code != exitOK {
		return &exitError{code: code, err: errors.New("")}
	}
	return nil
}
