package main

// The flags, made from the settings table (config.go): one flag per setting that has one, and one per <VAR>_FILE
// companion. The flags carry text only: every value, a flag's or a variable's, is parsed and checked with the rest
// of the configuration (load), so that one bad value never hides another. The variables are read by load too, not
// by urfave/cli: a flag given on the command line wins over its variables, and c.IsSet says "given as a flag".

import (
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"
)

// flags are the global flags: the settings' own, then the _FILE companions, in the table's order.
func flags() []cli.Flag {
	var own, files []cli.Flag
	for _, r := range table() {
		if r.flag != "" {
			own = append(own, r.cliFlag())
		}
		if r.file != "" {
			files = append(files, &cli.StringFlag{Name: r.fileFlag(), HideDefault: true,
				Usage: "file holding " + r.file + ", instead of $" + r.vars[0] + " (e.g. /run/secrets/" + strings.ToLower(r.vars[0]) + ")" +
					envHint(r.fileVar())})
		}
	}
	return append(own, files...)
}

// cliFlag is the row's flag: a switch for a boolean (--dry-run alone means true), else a string. --help shows the
// row's usage, its default and its variables.
func (r row) cliFlag() cli.Flag {
	usage := r.usage + r.defaultHint() + envHint(r.vars...)
	if r.boolean {
		return &cli.FlagBase[bool, cli.BoolConfig, textSwitch]{Name: r.flag, Usage: usage, HideDefault: true}
	}
	return &cli.StringFlag{Name: r.flag, Usage: usage, HideDefault: true}
}

// defaultHint is how --help shows the row's default: (default: "6h") for a value, (default: true) for a switch
// that is on unless set off, nothing for a switch that is off.
func (r row) defaultHint() string {
	switch {
	case r.def == "", r.boolean && r.def == "false":
		return ""
	case r.boolean:
		return " (default: " + r.def + ")"
	}
	return " (default: " + strconv.Quote(r.def) + ")"
}

// envHint lists the variables as urfave/cli does: [$AWS_REGION, $AWS_DEFAULT_REGION].
func envHint(vars ...string) string {
	return " [$" + strings.Join(vars, ", $") + "]"
}

// fileFlag is the flag of the row's <VAR>_FILE: --cattle-secret-key-file.
func (r row) fileFlag() string {
	return strings.ToLower(strings.ReplaceAll(r.vars[0], "_", "-")) + "-file"
}

// flagNames are the row's flags: its own, and its file's.
func (r row) flagNames() []string {
	var out []string
	if r.flag != "" {
		out = append(out, r.flag)
	}
	if r.file != "" {
		out = append(out, r.fileFlag())
	}
	return out
}

// fileVar is the row's <VAR>_FILE.
func (r row) fileVar() string { return r.vars[0] + "_FILE" }

// textSwitch is the value of a boolean flag: the text given (--dry-run alone is "true", --dry-run=no is "no"),
// parsed by load with the rest of the configuration (parseBool), so that a bad value is one problem among the
// others and not a parse error that hides them. cmd.String reads it.
type textSwitch struct{ text string }

func (textSwitch) Create(bool, *bool, cli.BoolConfig) cli.Value { return &textSwitch{} }
func (textSwitch) ToString(v bool) string                       { return strconv.FormatBool(v) }
func (t *textSwitch) Set(s string) error                        { t.text = s; return nil }
func (t *textSwitch) Get() any                                  { return t.text }
func (t *textSwitch) String() string                            { return t.text }
func (t *textSwitch) IsBoolFlag() bool                          { return true }

// shortDuration prints 6h, 10s or 1m30s rather than 6h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
